// goro::http — HTTP/1.1 request-head parser and response writer. See http1.hpp.
//
// The parser works one line at a time: memchr finds the LF, the line's
// bytes are checked against a 256-entry class table (field values eight at
// a time), and only then is the line interpreted. That order is what makes incremental parsing exact: a verdict
// depends only on complete lines, taken in order, so a prefix that yields a
// verdict yields the same one however many bytes follow. The head-size limit
// keeps that property because it is applied as a window: only the first
// k_max_head_size bytes are ever looked at, and "no end of head in the
// window" becomes too_large only once the window is full.
//
// Framing checks that need the whole head (Transfer-Encoding against
// Content-Length, the Host count for HTTP/1.1, keep-alive) run after the
// empty line; everything else fails at the line that breaks it.
#include "http1.hpp"

#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <limits>

namespace goro::http {
namespace {

// Character classes, one bit each, per RFC 9110 section 5.6.2 (tchar) and
// 5.5 (field-vchar); the target class is "anything visible but not SP".
enum : unsigned char {
    k_tchar = 1,   // token: method, header names
    k_target = 2,  // request-target: 0x21-0x7E and obs-text 0x80-0xFF
    k_value = 4,   // field value: HTAB, SP, 0x21-0x7E, obs-text
};

constexpr std::array<unsigned char, 256> make_classes() {
    std::array<unsigned char, 256> t{};
    constexpr std::string_view token_punct = "!#$%&'*+-.^_`|~";
    for (int c = 0; c < 256; ++c) {
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        unsigned char k = 0;
        if (alnum || token_punct.find(static_cast<char>(c)) != std::string_view::npos) k |= k_tchar;
        if (c > 0x20 && c != 0x7f) k |= k_target;
        if (c == '\t' || (c >= 0x20 && c != 0x7f)) k |= k_value;
        t[static_cast<std::size_t>(c)] = k;
    }
    return t;
}

constexpr std::array<unsigned char, 256> k_classes = make_classes();

inline bool is(char c, unsigned char cls) noexcept {
    return (k_classes[static_cast<unsigned char>(c)] & cls) != 0;
}

// Every byte a field-value byte (HTAB, SP-0x7E, obs-text)? Eight bytes at a
// time: a word with no byte below 0x20 and none equal to 0x7F is all valid
// (the "hasless" and "haszero" tricks of Anderson's Bit Twiddling Hacks,
// exact when they say "none"); a flagged word, usually one holding an
// HTAB, is judged byte by byte. This loop is most of a request's cost.
bool valid_value(std::string_view s) noexcept {
    constexpr std::uint64_t ones = 0x0101010101010101u;
    constexpr std::uint64_t highs = 0x8080808080808080u;
    const char* p = s.data();
    std::size_t n = s.size();
    for (; n >= 8; p += 8, n -= 8) {
        std::uint64_t w;
        std::memcpy(&w, p, 8);
        const std::uint64_t below_space = (w - ones * 0x20) & ~w & highs;
        const std::uint64_t x = w ^ (ones * 0x7f);
        const std::uint64_t del = (x - ones) & ~x & highs;
        if ((below_space | del) == 0) continue;
        for (int i = 0; i < 8; ++i) {
            if (!is(p[i], k_value)) return false;
        }
    }
    for (; n != 0; ++p, --n) {
        if (!is(*p, k_value)) return false;
    }
    return true;
}

// name == lit, ignoring case, for a token `name` and a literal of lowercase
// letters and '-': OR-ing 0x20 lowercases a letter, keeps '-', and maps no
// other token byte onto a lowercase letter or '-'.
template <std::size_t N>
inline bool name_is(std::string_view name, const char (&lit)[N]) noexcept {
    if (name.size() != N - 1) return false;
    for (std::size_t i = 0; i < N - 1; ++i) {
        if ((name[i] | 0x20) != lit[i]) return false;
    }
    return true;
}

inline char lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c; }

inline bool is_ows(char c) noexcept { return c == ' ' || c == '\t'; }

std::string_view trim_ows(std::string_view s) noexcept {
    while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
    return s;
}

enum class line_result { ok, incomplete, bad };

// The line at buf[pos] without its CR LF; advances pos past the LF.
// A LF not preceded by CR is `bad`; a lone CR inside the line is left for
// the byte checks, which reject it (CR is in no class).
line_result next_line(std::string_view buf, std::size_t& pos, std::string_view& line) noexcept {
    if (pos >= buf.size()) return line_result::incomplete;  // and never memchr(nullptr, ...)
    const char* start = buf.data() + pos;
    const void* lf = std::memchr(start, '\n', buf.size() - pos);
    if (lf == nullptr) return line_result::incomplete;
    auto len = static_cast<std::size_t>(static_cast<const char*>(lf) - start);
    if (len == 0 || start[len - 1] != '\r') return line_result::bad;
    line = std::string_view(start, len - 1);
    pos += len + 1;
    return line_result::ok;
}

// method SP request-target SP HTTP-version
parse_status parse_request_line(std::string_view line, request& out) noexcept {
    std::size_t i = 0;
    while (i < line.size() && is(line[i], k_tchar)) ++i;
    if (i == 0 || i == line.size() || line[i] != ' ') return parse_status::bad_request;
    out.method = line.substr(0, i);

    std::size_t target_start = ++i;
    while (i < line.size() && is(line[i], k_target)) ++i;
    if (i == target_start || i == line.size() || line[i] != ' ') return parse_status::bad_request;
    out.target = line.substr(target_start, i - target_start);

    // Exactly "HTTP/" DIGIT "." DIGIT, case-sensitive (RFC 9112 section 2.3).
    std::string_view v = line.substr(i + 1);
    auto digit = [](char c) { return c >= '0' && c <= '9'; };
    if (v.size() != 8 || v.substr(0, 5) != "HTTP/" || !digit(v[5]) || v[6] != '.' || !digit(v[7]))
        return parse_status::bad_request;
    if (v[5] != '1' || v[7] > '1') return parse_status::version_not_supported;
    out.version_minor = v[7] - '0';
    return parse_status::complete;
}

// 1*DIGIT that fits std::size_t.
bool parse_content_length(std::string_view s, std::size_t& out) noexcept {
    if (s.empty()) return false;
    std::size_t value = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
        auto d = static_cast<std::size_t>(c - '0');
        if (value > (std::numeric_limits<std::size_t>::max() - d) / 10) return false;
        value = value * 10 + d;
    }
    out = value;
    return true;
}

// Connection = #connection-option: scan the comma list for the two options
// that decide keep-alive. Empty list elements are allowed (RFC 9110 5.6.1).
void scan_connection(std::string_view value, bool& close, bool& keep_alive) noexcept {
    while (!value.empty()) {
        auto comma = value.find(',');
        std::string_view item = trim_ows(value.substr(0, comma));
        if (iequals(item, "close")) close = true;
        if (iequals(item, "keep-alive")) keep_alive = true;
        if (comma == std::string_view::npos) break;
        value.remove_prefix(comma + 1);
    }
}

parse_status parse_head(std::string_view buf, request& out, std::size_t& consumed) noexcept {
    std::size_t pos = 0;
    std::string_view line;

    // RFC 9112 section 2.2: ignore empty lines before the request line (some
    // clients send a CR LF after a POST body).
    do {
        switch (next_line(buf, pos, line)) {
        case line_result::ok: break;
        case line_result::incomplete: return parse_status::incomplete;
        case line_result::bad: return parse_status::bad_request;
        }
    } while (line.empty());

    if (auto s = parse_request_line(line, out); s != parse_status::complete) return s;

    out.header_count = 0;
    out.content_length = 0;
    out.chunked = false;
    bool have_length = false;
    std::size_t te_count = 0;
    std::string_view te_value;
    std::size_t host_count = 0;
    bool conn_close = false;
    bool conn_keep_alive = false;

    for (;;) {
        switch (next_line(buf, pos, line)) {
        case line_result::ok: break;
        case line_result::incomplete: return parse_status::incomplete;
        case line_result::bad: return parse_status::bad_request;
        }
        if (line.empty()) break;

        // A line starting with whitespace is an obs-fold continuation, or
        // whitespace between the request line and the first field; RFC 9112
        // sections 5.2 and 2.2 allow rejecting both.
        std::size_t i = 0;
        while (i < line.size() && is(line[i], k_tchar)) ++i;
        // No whitespace between name and colon (RFC 9112 section 5.1).
        if (i == 0 || i == line.size() || line[i] != ':') return parse_status::bad_request;
        std::string_view name = line.substr(0, i);
        std::string_view value = line.substr(i + 1);
        if (!valid_value(value)) return parse_status::bad_request;
        value = trim_ows(value);

        if (out.header_count == k_max_headers) return parse_status::too_large;
        out.header_storage[out.header_count++] = header_field{name, value};

        // Dispatch on length first: most fields are none of these.
        switch (name.size()) {
        case 4:
            if (name_is(name, "host") && ++host_count > 1) return parse_status::bad_request;
            break;
        case 10:
            if (name_is(name, "connection")) scan_connection(value, conn_close, conn_keep_alive);
            break;
        case 14:
            if (name_is(name, "content-length")) {
                std::size_t n = 0;
                if (!parse_content_length(value, n)) return parse_status::bad_request;
                if (have_length && n != out.content_length) return parse_status::bad_request;
                have_length = true;
                out.content_length = n;
            }
            break;
        case 17:
            if (name_is(name, "transfer-encoding")) {
                ++te_count;
                te_value = value;
            }
            break;
        default: break;
        }
    }

    if (te_count != 0) {
        // Both framings at once is the classic smuggling vector (RFC 9112
        // 6.1 and 6.3); HTTP/1.0 has no transfer codings at all.
        if (have_length || out.version_minor == 0) return parse_status::bad_request;
        if (te_count != 1 || !iequals(te_value, "chunked")) return parse_status::not_implemented;
        out.chunked = true;
    }
    if (out.version_minor == 1 && host_count == 0) return parse_status::bad_request;  // RFC 9112 3.2
    out.keep_alive = out.version_minor == 1 ? !conn_close : (conn_keep_alive && !conn_close);
    consumed = pos;
    return parse_status::complete;
}

std::size_t put(char* out, std::string_view s) noexcept {
    if (!s.empty()) std::memcpy(out, s.data(), s.size());  // data() may be null when empty
    return s.size();
}

}  // namespace

int status_code(parse_status s) noexcept {
    switch (s) {
    case parse_status::bad_request: return 400;
    case parse_status::too_large: return 431;
    case parse_status::version_not_supported: return 505;
    case parse_status::not_implemented: return 501;
    case parse_status::complete:
    case parse_status::incomplete: break;
    }
    return 0;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (lower(a[i]) != lower(b[i])) return false;
    }
    return true;
}

bool is_token(std::string_view s) noexcept {
    if (s.empty()) return false;
    for (char c : s) {
        if (!is(c, k_tchar)) return false;
    }
    return true;
}

bool is_field_value(std::string_view s) noexcept { return valid_value(s); }

std::optional<std::string_view> request::header(std::string_view name) const noexcept {
    for (const header_field& f : headers()) {
        if (iequals(f.name, name)) return f.value;
    }
    return std::nullopt;
}

parse_status parse_request(std::string_view buffer, request& out, std::size_t& consumed) noexcept {
    consumed = 0;
    // Look at the first k_max_head_size bytes only; see the file comment.
    std::string_view window = buffer.substr(0, k_max_head_size);
    parse_status s = parse_head(window, out, consumed);
    if (s == parse_status::incomplete && buffer.size() >= k_max_head_size) s = parse_status::too_large;
    if (s != parse_status::complete) consumed = 0;
    return s;
}

std::string_view status_reason(int status) noexcept {
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 205: return "Reset Content";
    case 206: return "Partial Content";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Content";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return {};
    }
}

std::size_t format_response(char* out, std::size_t cap, int status, std::string_view reason,
                            std::string_view content_type, std::string_view body, bool keep_alive,
                            std::string_view extra_headers) noexcept {
    if (status < 100 || status > 999) return 0;
    if (reason.empty()) reason = status_reason(status);
    if (reason.find_first_of("\r\n") != std::string_view::npos ||
        content_type.find_first_of("\r\n") != std::string_view::npos)
        return 0;
    if (!extra_headers.empty() && !extra_headers.ends_with("\r\n")) return 0;
    const bool has_length = status >= 200 && status != 204;  // RFC 9110 8.6
    if (!has_length && !body.empty()) return 0;

    char length[24];
    auto [length_end, ec] = std::to_chars(length, length + sizeof length, body.size());
    (void)ec;  // 24 bytes hold any std::size_t
    std::string_view length_text(length, static_cast<std::size_t>(length_end - length));

    constexpr std::string_view ct_name = "Content-Type: ";
    constexpr std::string_view cl_name = "Content-Length: ";
    constexpr std::string_view close = "Connection: close\r\n";
    std::size_t total = 13 + reason.size() + 2;  // "HTTP/1.1 200 " reason CRLF
    if (!content_type.empty()) total += ct_name.size() + content_type.size() + 2;
    if (has_length) total += cl_name.size() + length_text.size() + 2;
    if (!keep_alive) total += close.size();
    total += extra_headers.size() + 2;
    if (body.size() > cap || total > cap - body.size()) return 0;
    total += body.size();

    char* p = out;
    p += put(p, "HTTP/1.1 ");
    *p++ = static_cast<char>('0' + status / 100);
    *p++ = static_cast<char>('0' + status / 10 % 10);
    *p++ = static_cast<char>('0' + status % 10);
    *p++ = ' ';
    p += put(p, reason);
    p += put(p, "\r\n");
    if (!content_type.empty()) {
        p += put(p, ct_name);
        p += put(p, content_type);
        p += put(p, "\r\n");
    }
    if (has_length) {
        p += put(p, cl_name);
        p += put(p, length_text);
        p += put(p, "\r\n");
    }
    if (!keep_alive) p += put(p, close);
    p += put(p, extra_headers);
    p += put(p, "\r\n");
    p += put(p, body);
    return static_cast<std::size_t>(p - out) == total ? total : 0;
}

std::size_t format_date(char* out, std::size_t cap, std::time_t t) noexcept {
    using namespace std::chrono;
    // Years 0000-9999 only: four digits, and the calendar arithmetic below
    // would overflow for time_t values far outside them.
    constexpr std::time_t k_first = -62167219200;  // 0000-01-01T00:00:00Z
    constexpr std::time_t k_last = 253402300799;   // 9999-12-31T23:59:59Z
    if (cap < k_date_size || t < k_first || t > k_last) return 0;
    const sys_seconds tp{seconds{t}};
    const sys_days day = floor<days>(tp);
    const year_month_day ymd{day};
    const int y = static_cast<int>(ymd.year());
    const hh_mm_ss hms{tp - day};
    constexpr std::string_view weekdays = "SunMonTueWedThuFriSat";
    constexpr std::string_view months = "JanFebMarAprMayJunJulAugSepOctNovDec";
    const auto wd = weekday{day}.c_encoding();                     // 0 = Sunday
    const auto mon = static_cast<unsigned>(ymd.month()) - 1;       // 0 = January
    auto two = [](char* p, long v) {
        p[0] = static_cast<char>('0' + v / 10);
        p[1] = static_cast<char>('0' + v % 10);
    };
    char* p = out;
    p += put(p, weekdays.substr(wd * 3, 3));
    p += put(p, ", ");
    two(p, static_cast<unsigned>(ymd.day()));
    p[2] = ' ';
    p += 3;
    p += put(p, months.substr(mon * 3, 3));
    *p++ = ' ';
    two(p, y / 100);
    two(p + 2, y % 100);
    p[4] = ' ';
    p += 5;
    two(p, hms.hours().count());
    p[2] = ':';
    two(p + 3, hms.minutes().count());
    p[5] = ':';
    two(p + 6, hms.seconds().count());
    p += 8;
    p += put(p, " GMT");
    return static_cast<std::size_t>(p - out);
}

std::string_view error_response(parse_status s) noexcept {
    switch (s) {
    case parse_status::bad_request:
        return "HTTP/1.1 400 Bad Request\r\n"
               "Content-Type: text/plain; charset=utf-8\r\n"
               "Content-Length: 15\r\n"
               "Connection: close\r\n"
               "\r\n"
               "400 Bad Request";
    case parse_status::too_large:
        return "HTTP/1.1 431 Request Header Fields Too Large\r\n"
               "Content-Type: text/plain; charset=utf-8\r\n"
               "Content-Length: 35\r\n"
               "Connection: close\r\n"
               "\r\n"
               "431 Request Header Fields Too Large";
    case parse_status::not_implemented:
        return "HTTP/1.1 501 Not Implemented\r\n"
               "Content-Type: text/plain; charset=utf-8\r\n"
               "Content-Length: 19\r\n"
               "Connection: close\r\n"
               "\r\n"
               "501 Not Implemented";
    case parse_status::version_not_supported:
        return "HTTP/1.1 505 HTTP Version Not Supported\r\n"
               "Content-Type: text/plain; charset=utf-8\r\n"
               "Content-Length: 30\r\n"
               "Connection: close\r\n"
               "\r\n"
               "505 HTTP Version Not Supported";
    case parse_status::complete:
    case parse_status::incomplete: break;
    }
    return {};
}

}  // namespace goro::http
