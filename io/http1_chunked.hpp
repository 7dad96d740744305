// goro::http::chunked_decoder — the chunked transfer coding of a request
// body (RFC 9112 section 7.1), decoded incrementally. No sockets, no
// allocation: the server (io/http1_server.hpp) feeds it the bytes it has read
// and gets body data back as views of them.
//
//     goro::http::chunked_decoder d;
//     auto r = d.decode(unread);          // unread: bytes after the head
//     unread.remove_prefix(r.consumed);   // always, whatever the status
//     switch (r.status) {
//     case chunk_status::data:       use(r.data); break;      // a view into `unread`
//     case chunk_status::incomplete: read more, append, decode again;
//     case chunk_status::done:       r.trailers: the trailer field lines; the body ended
//     default:                       400 (bad_request) or 431 (too_large), close
//     }
//
// The grammar, strictly (leniency in chunk framing is a request-smuggling
// hole, as in the head: see io/http1.hpp):
//
//     chunked-body = *chunk last-chunk trailer-section CRLF
//     chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
//     chunk-size   = 1*HEXDIG               (fits 64 bits)
//     chunk-ext    = *( BWS ";" BWS token [ BWS "=" BWS ( token / quoted-string ) ] )
//     last-chunk   = 1*"0" [ chunk-ext ] CRLF
//     trailer-section = *( field-line CRLF )   (field lines as in the head)
//
//   * lines end in CR LF; a bare LF, a lone CR, or chunk data not followed
//     by CR LF is bad_request. Whitespace is allowed only where the grammar
//     puts BWS: "5 ;a=b" is fine, "5 " and "5;a " are not.
//   * extensions are checked and ignored (RFC 9112 7.1.1).
//   * a chunk-size line (extensions and CR LF included) is at most
//     k_max_chunk_line bytes: longer is bad_request.
//   * as Go's net/http does against tiny chunks with large extensions, the
//     framing overhead is bounded: each size line and its chunk's closing
//     CR LF add to an "excess" counter, each chunk gives back 16 bytes plus
//     twice its data size, and an excess over 16 KiB is bad_request.
//   * trailer fields: token name, ':' right after it, a value of field-value
//     bytes (no obs-fold). The section (final CR LF included) is at most
//     k_max_trailer_size bytes and k_max_trailers fields, else too_large.
//     Trailers are handed over as they are, never merged into the head.
//
// Incremental use: decode() judges a control line (size line, chunk end,
// trailer section) only once all of it has arrived, and never consumes part
// of one; chunk data is returned as soon as any is there. So however the
// bytes are split between calls, the concatenated data and the final status
// are the same as when decoding them in one piece. A control line that has
// not ended within its size limit is judged at once (the window rule of the
// head parser): `incomplete` always means the unconsumed control bytes are
// fewer than k_max_chunk_line (k_max_trailer_size in the trailers), which
// is what lets the server decode in a fixed buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string_view>

#include "http1.hpp"

namespace goro::http {

/// Longest chunk-size line, extensions and CR LF included (Go's limit too).
inline constexpr std::size_t k_max_chunk_line = 4096;
/// Longest trailer section, its final CR LF included.
inline constexpr std::size_t k_max_trailer_size = 4096;
/// Most fields in a trailer section.
inline constexpr std::size_t k_max_trailers = 32;

enum class chunk_status : unsigned char {
    data,         ///< r.data holds at least one body byte
    incomplete,   ///< more bytes are needed (r.consumed may still be > 0)
    done,         ///< the last chunk and the trailer section have been read
    bad_request,  ///< 400: malformed framing (sticky)
    too_large,    ///< 431: trailer section over its limits (sticky)
};

struct chunk_result {
    chunk_status status = chunk_status::incomplete;
    /// Input bytes used, control bytes and returned data together. Drop them
    /// before the next call, whatever the status.
    std::size_t consumed = 0;
    /// On `data`: body bytes, a view into the input.
    std::string_view data;
    /// On `done`: the trailer field lines, each ending in CR LF, without the
    /// final empty line; empty when there were none. A view into the input.
    std::string_view trailers;
};

class chunked_decoder {
public:
    /// Decodes from the start of `in`: control lines are consumed until body
    /// data is reached (returned, at most max_data bytes, which must be at
    /// least 1), the body ends, more bytes are needed or the framing is bad.
    /// After `done` it returns `done` with nothing consumed; after an error,
    /// the same error.
    [[nodiscard]] chunk_result decode(std::string_view in,
                                      std::size_t max_data = std::numeric_limits<std::size_t>::max()) noexcept;

    /// Data bytes left in the chunk being read (0 between chunks): that many
    /// bytes may be read straight into their destination and then passed to
    /// decode(), which returns them as data without copying.
    [[nodiscard]] std::uint64_t chunk_remaining() const noexcept {
        return m_state == state::data ? m_remaining : 0;
    }
    /// True once decode() returned `done`.
    [[nodiscard]] bool finished() const noexcept { return m_state == state::done; }

private:
    enum class state : unsigned char { size_line, data, data_end, trailers, done, bad, too_large };
    chunk_result fail(state s, std::size_t consumed) noexcept;

    state m_state = state::size_line;
    std::uint64_t m_remaining = 0;  // data bytes left in the current chunk (state::data)
    std::uint64_t m_excess = 0;     // framing overhead not yet paid for by data (see the file comment)
};

/// Calls f(header_field) for each field line of a trailer section as
/// chunk_result::trailers gives it (names as sent, values trimmed of
/// surrounding spaces and tabs). The section must come from a `done` result:
/// its lines are known to be valid.
template <typename F>
void for_each_trailer(std::string_view section, F&& f) {
    while (!section.empty()) {
        const std::size_t end = section.find("\r\n");
        const std::string_view line = section.substr(0, end);
        const std::size_t colon = line.find(':');
        std::string_view value = line.substr(colon + 1);
        while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
        while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
        f(header_field{line.substr(0, colon), value});
        section.remove_prefix(end == std::string_view::npos ? section.size() : end + 2);
    }
}

}  // namespace goro::http
