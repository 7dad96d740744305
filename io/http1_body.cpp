// goro::http server — request bodies (body::read: Content-Length or chunked,
// 100 Continue, the body limit) and response writing. See http1_server.hpp.
#include <algorithm>
#include <charconv>
#include <cstring>
#include <ctime>
#include <string>

#include "http1_server.hpp"
#include "http1_server_detail.hpp"
#include "io_error.hpp"

namespace goro::http {
namespace {

class http_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "goro.http"; }
    std::string message(int code) const override {
        switch (static_cast<errc>(code)) {
        case errc::body_too_large: return "http: request body too large";
        case errc::bad_chunked_body: return "http: malformed chunked encoding";
        case errc::trailers_too_large: return "http: trailer section too large";
        }
        return "unknown goro.http error " + std::to_string(code);
    }
};

}  // namespace

const std::error_category& http_category() noexcept {
    static const http_category_impl instance;
    return instance;
}

// ------------------------------------------------------------------ body

result<std::size_t> body::failed(std::error_code e) noexcept {
    m_error = e;
    return e;
}

void body::save_trailers(std::string_view section) {
    // Copy first: the fields point into m_trailer_text, which must not change after.
    m_trailer_text.assign(section);
    m_trailers.clear();
    for_each_trailer(m_trailer_text, [this](header_field f) { m_trailers.push_back(f); });
}

task<result<std::size_t>> body::read(void* data, std::size_t size) {
    if (m_error) co_return m_error;
    if (m_finished || size == 0) co_return std::size_t{0};
    detail::conn_state& c = *m_conn;
    if (m_expect_continue && !m_wrote_continue) {
        // The client holds the body back until it sees this (or gives up
        // waiting). It goes after the responses already queued: in order.
        m_wrote_continue = true;
        c.out += "HTTP/1.1 100 Continue\r\n\r\n";
        auto w = co_await c.flush();
        if (!w) co_return failed(w.error());
    }

    if (!m_chunked) {
        // Content-Length: at most m_remaining bytes, from the buffer first,
        // then straight from the socket into the caller's memory.
        const std::size_t want = std::min(size, m_remaining);
        std::size_t n = 0;
        if (c.lo < c.hi) {
            n = std::min(want, c.hi - c.lo);
            std::memcpy(data, c.buf.get() + c.lo, n);
            c.lo += n;
        } else {
            auto got = co_await c.read_into(data, want);
            if (!got) co_return failed(got.error());
            if (*got == 0) co_return failed(make_error_code(io_errc::unexpected_eof));
            n = *got;
        }
        m_remaining -= n;
        if (m_remaining == 0) m_finished = true;
        co_return n;
    }

    for (;;) {
        chunk_result r;
        if (c.lo == c.hi && m_decoder.chunk_remaining() > 0) {
            // Inside a chunk with nothing buffered: read the data straight
            // into the caller's memory; the decoder only counts it.
            const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(size, m_decoder.chunk_remaining()));
            auto got = co_await c.read_into(data, want);
            if (!got) co_return failed(got.error());
            if (*got == 0) co_return failed(make_error_code(io_errc::unexpected_eof));
            r = m_decoder.decode(std::string_view(static_cast<const char*>(data), *got), *got);
        } else {
            r = m_decoder.decode(c.unread(), size);
            c.lo += r.consumed;  // the bytes stay in place until the next fill()
        }
        switch (r.status) {
        case chunk_status::data:
            m_total += r.data.size();
            if (m_total > m_limit) co_return failed(make_error_code(errc::body_too_large));
            if (r.data.data() != data) std::memcpy(data, r.data.data(), r.data.size());
            co_return r.data.size();
        case chunk_status::done:
            save_trailers(r.trailers);
            m_finished = true;
            co_return std::size_t{0};
        case chunk_status::bad_request: co_return failed(make_error_code(errc::bad_chunked_body));
        case chunk_status::too_large: co_return failed(make_error_code(errc::trailers_too_large));
        case chunk_status::incomplete: break;
        }
        auto n = co_await c.fill();
        if (!n) co_return failed(n.error());
        if (*n == 0) co_return failed(make_error_code(io_errc::unexpected_eof));
    }
}

task<result<std::string>> body::read_all() {
    std::string all;
    for (;;) {
        const std::size_t have = all.size();
        // Content-Length: what is left, at once; chunked: growing steps.
        std::size_t step = m_chunked ? std::clamp<std::size_t>(have, 4096, 1 << 20) : m_remaining;
        if (step == 0) step = 1;  // reaches the end (0) or the error
        all.resize(have + step);
        auto n = co_await read(all.data() + have, step);
        if (!n) co_return n.error();
        all.resize(have + *n);
        if (*n == 0) break;
    }
    co_return all;
}

// ------------------------------------------------------------------ responses

namespace detail {
namespace {

// "Date: <IMF-fixdate>\r\n", formatted once a second per thread.
std::string_view date_line() noexcept {
    struct cache {
        std::time_t second = -1;
        char text[6 + k_date_size + 2] = "Date: ";
    };
    // initial-exec: as the frame pool's t_frames (frame_allocator.cpp).
    [[gnu::tls_model("initial-exec")]] thread_local cache c;
    const std::time_t now = std::time(nullptr);
    if (now != c.second) {
        if (format_date(c.text + 6, k_date_size, now) == 0) return {};
        std::memcpy(c.text + 6 + k_date_size, "\r\n", 2);
        c.second = now;
    }
    return {c.text, sizeof c.text};
}

// The fields the server writes itself, which a handler may not add.
bool reserved_name(std::string_view name) noexcept {
    return iequals(name, "content-length") || iequals(name, "transfer-encoding") || iequals(name, "connection") ||
           iequals(name, "date");
}

// "Name: value\r\n" lines only: token names, field-value bytes (no CR or LF
// inside a line, so no header injection), none of the reserved names.
bool valid_header_lines(std::string_view lines) noexcept {
    while (!lines.empty()) {
        const std::size_t end = lines.find("\r\n");
        if (end == std::string_view::npos) return false;
        const std::string_view line = lines.substr(0, end);
        const std::size_t colon = line.find(':');
        if (colon == std::string_view::npos) return false;
        const std::string_view name = line.substr(0, colon);
        if (!is_token(name) || reserved_name(name) || !is_field_value(line.substr(colon + 1))) return false;
        lines.remove_prefix(end + 2);
    }
    return true;
}

bool valid_response(const response& r) noexcept {
    if (r.status < 200 || r.status > 999) return false;  // 1xx are the server's (100 Continue)
    if (!is_field_value(r.reason) || !is_field_value(r.content_type)) return false;
    if ((r.status == 204 || r.status == 304) && !r.body.empty()) return false;
    return valid_header_lines(r.headers);
}

void append_status_line(std::string& out, int status, std::string_view reason) {
    char code[3] = {static_cast<char>('0' + status / 100), static_cast<char>('0' + status / 10 % 10),
                    static_cast<char>('0' + status % 10)};
    out += "HTTP/1.1 ";
    out.append(code, 3);
    out += ' ';
    out += reason.empty() ? status_reason(status) : reason;
    out += "\r\n";
}

void append_length(std::string& out, std::size_t n) {
    char digits[24];
    auto [end, ec] = std::to_chars(digits, digits + sizeof digits, n);
    (void)ec;  // 24 bytes hold any std::size_t
    out += "Content-Length: ";
    out.append(digits, static_cast<std::size_t>(end - digits));
    out += "\r\n";
}

}  // namespace

void append_error(std::string& out, int status) {
    const std::string_view reason = status_reason(status);
    char body[64];
    auto [end, ec] = std::to_chars(body, body + 4, status);
    (void)ec;  // a status has three digits
    *end++ = ' ';
    const std::size_t n = std::min(reason.size(), sizeof body - static_cast<std::size_t>(end - body));
    std::memcpy(end, reason.data(), n);
    end += n;
    append_status_line(out, status, reason);
    out += date_line();
    out += "Content-Type: text/plain; charset=utf-8\r\n";
    append_length(out, static_cast<std::size_t>(end - body));
    out += "Connection: close\r\n\r\n";
    out.append(body, static_cast<std::size_t>(end - body));
}

void append_response(std::string& out, const request& req, const response& resp, bool close) {
    if (!valid_response(resp)) {
        // A handler bug, not the client's: 500, and the connection goes on
        // (the request's framing was fine).
        response internal;
        internal.status = 500;
        internal.content_type = "text/plain; charset=utf-8";
        internal.body = "500 Internal Server Error";
        append_response(out, req, internal, close);
        return;
    }
    append_status_line(out, resp.status, resp.reason);
    out += date_line();
    if (!resp.content_type.empty()) {
        out += "Content-Type: ";
        out += resp.content_type;
        out += "\r\n";
    }
    if (resp.status != 204 && resp.status != 304) append_length(out, resp.body.size());
    if (close) {
        out += "Connection: close\r\n";
    } else if (req.version_minor == 0) {
        out += "Connection: keep-alive\r\n";  // an HTTP/1.0 client that asked for it (else close is set)
    }
    out += resp.headers;
    out += "\r\n";
    if (req.method != "HEAD") out += resp.body;  // HEAD: the length of the body GET would get, no body
}

}  // namespace detail
}  // namespace goro::http
