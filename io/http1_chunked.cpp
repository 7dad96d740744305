// goro::http::chunked_decoder — see http1_chunked.hpp.
//
// A small state machine: size line → data → data end (CR LF) → size line ...
// → (size 0) trailers → done. Control parts are judged whole: a size line
// once its LF is in view, a trailer section once its empty line is; the
// search for the LF is bounded by the part's size limit (a window, as in the
// head parser), which keeps incremental decoding exact (same verdict however
// the input is split) and the unconsumed control bytes below the limit.
#include "http1_chunked.hpp"

#include <algorithm>
#include <cstring>

namespace goro::http {
namespace {

int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool is_bws(char c) noexcept { return c == ' ' || c == '\t'; }

bool is_tchar(char c) noexcept { return is_token(std::string_view(&c, 1)); }

void skip_bws(std::string_view s, std::size_t& i) noexcept {
    while (i < s.size() && is_bws(s[i])) ++i;
}

// quoted-string at s[i] (the opening DQUOTE); advances i past the closing one.
// qdtext and quoted-pair bytes are field-value bytes (HTAB, SP, VCHAR,
// obs-text), DQUOTE and backslash having their own meaning.
bool skip_quoted(std::string_view s, std::size_t& i) noexcept {
    ++i;
    while (i < s.size()) {
        const char c = s[i++];
        if (c == '"') return true;
        if (c == '\\') {
            if (i == s.size() || !is_field_value(s.substr(i, 1))) return false;
            ++i;
        } else if (!is_field_value(std::string_view(&c, 1))) {
            return false;
        }
    }
    return false;  // no closing DQUOTE
}

// chunk-size [ chunk-ext ], the line without its CR LF.
bool parse_size_line(std::string_view line, std::uint64_t& size) noexcept {
    std::uint64_t value = 0;
    std::size_t i = 0;
    for (; i < line.size(); ++i) {
        const int d = hex_value(line[i]);
        if (d < 0) break;
        if (value > (std::numeric_limits<std::uint64_t>::max() >> 4)) return false;  // would overflow
        value = (value << 4) | static_cast<std::uint64_t>(d);
    }
    if (i == 0) return false;
    // *( BWS ";" BWS name [ BWS "=" BWS value ] ): whitespace only before
    // a ';' or an '=', never at the end.
    while (i < line.size()) {
        skip_bws(line, i);
        if (i == line.size() || line[i] != ';') return false;
        ++i;
        skip_bws(line, i);
        const std::size_t name_start = i;
        while (i < line.size() && is_tchar(line[i])) ++i;
        if (i == name_start) return false;
        std::size_t j = i;
        skip_bws(line, j);
        if (j < line.size() && line[j] == '=') {
            i = j + 1;
            skip_bws(line, i);
            if (i < line.size() && line[i] == '"') {
                if (!skip_quoted(line, i)) return false;
            } else {
                const std::size_t value_start = i;
                while (i < line.size() && is_tchar(line[i])) ++i;
                if (i == value_start) return false;
            }
        }
    }
    size = value;
    return true;
}

// One trailer field line (without CR LF): name ':' value, as in the head.
bool valid_trailer_line(std::string_view line) noexcept {
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return false;
    return is_token(line.substr(0, colon)) && is_field_value(line.substr(colon + 1));
}

}  // namespace

chunk_result chunked_decoder::fail(state s, std::size_t consumed) noexcept {
    m_state = s;
    return {s == state::bad ? chunk_status::bad_request : chunk_status::too_large, consumed, {}, {}};
}

chunk_result chunked_decoder::decode(std::string_view in, std::size_t max_data) noexcept {
    std::size_t pos = 0;  // in[0, pos) is consumed
    for (;;) {
        const std::size_t avail = in.size() - pos;
        switch (m_state) {
        case state::size_line: {
            // The LF must come within the first k_max_chunk_line bytes.
            const std::size_t window = std::min(avail, k_max_chunk_line);
            const void* lf = window == 0 ? nullptr : std::memchr(in.data() + pos, '\n', window);
            if (lf == nullptr) {
                if (avail >= k_max_chunk_line) return fail(state::bad, pos);
                return {chunk_status::incomplete, pos, {}, {}};
            }
            const auto len = static_cast<std::size_t>(static_cast<const char*>(lf) - (in.data() + pos));
            if (len == 0 || in[pos + len - 1] != '\r') return fail(state::bad, pos);
            std::uint64_t size = 0;
            if (!parse_size_line(in.substr(pos, len - 1), size)) return fail(state::bad, pos);
            // Go's rule against framing without data: the line and the CR LF
            // after the chunk's data cost their bytes; each chunk gives back
            // 16 bytes plus twice its data (saturating, never below 0).
            const std::uint64_t cost = m_excess + len + 1 + 2;
            const std::uint64_t refund =
                size > (std::numeric_limits<std::uint64_t>::max() - 16) / 2 ? std::numeric_limits<std::uint64_t>::max()
                                                                           : 16 + 2 * size;
            m_excess = cost > refund ? cost - refund : 0;
            if (m_excess > 16 * 1024) return fail(state::bad, pos);
            pos += len + 1;
            if (size == 0) {
                m_state = state::trailers;
            } else {
                m_state = state::data;
                m_remaining = size;
            }
            break;
        }
        case state::data: {
            if (avail == 0) return {chunk_status::incomplete, pos, {}, {}};
            // m_remaining > 0 in this state; the result has at least one byte
            // unless the caller asked for none.
            const std::size_t n = static_cast<std::size_t>(
                std::min<std::uint64_t>(m_remaining, std::min(avail, max_data)));
            m_remaining -= n;
            if (m_remaining == 0) m_state = state::data_end;
            return {chunk_status::data, pos + n, in.substr(pos, n), {}};
        }
        case state::data_end:
            if (avail == 0) return {chunk_status::incomplete, pos, {}, {}};
            if (in[pos] != '\r') return fail(state::bad, pos);
            if (avail == 1) return {chunk_status::incomplete, pos, {}, {}};
            if (in[pos + 1] != '\n') return fail(state::bad, pos);
            pos += 2;
            m_state = state::size_line;
            break;
        case state::trailers: {
            // The whole section, up to its empty line, within k_max_trailer_size bytes.
            const std::size_t end = pos + std::min(avail, k_max_trailer_size);
            std::size_t line_start = pos;
            std::size_t fields = 0;
            for (;;) {
                const void* lf = line_start == end ? nullptr
                                                   : std::memchr(in.data() + line_start, '\n', end - line_start);
                if (lf == nullptr) {
                    if (avail >= k_max_trailer_size) return fail(state::too_large, pos);
                    return {chunk_status::incomplete, pos, {}, {}};  // nothing of the section consumed
                }
                const auto lf_at = static_cast<std::size_t>(static_cast<const char*>(lf) - in.data());
                if (lf_at == line_start || in[lf_at - 1] != '\r') return fail(state::bad, pos);
                const std::string_view line = in.substr(line_start, lf_at - 1 - line_start);
                if (line.empty()) {
                    m_state = state::done;
                    return {chunk_status::done, lf_at + 1, {}, in.substr(pos, line_start - pos)};
                }
                if (!valid_trailer_line(line)) return fail(state::bad, pos);
                if (++fields > k_max_trailers) return fail(state::too_large, pos);
                line_start = lf_at + 1;
            }
        }
        case state::done: return {chunk_status::done, pos, {}, {}};
        case state::bad: return {chunk_status::bad_request, pos, {}, {}};
        case state::too_large: return {chunk_status::too_large, pos, {}, {}};
        }
    }
}

}  // namespace goro::http
