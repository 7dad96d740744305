// goro::http — an incremental HTTP/1.1 request-head parser and canned responses.
//
// This is the protocol half of goro::http's server (io/http1_server.hpp,
// which http_hello uses): no sockets, no allocation, no runtime. The server
// reads into a buffer, calls parse_request() on the unread bytes, and on
// `complete` handles the request, skips `consumed` bytes and the body, and
// parses again: several pipelined requests in one read are handled one
// after another.
//
//     std::size_t used = 0;
//     switch (goro::http::parse_request(unread, req, used)) {
//     case parse_status::complete:   handle(req); unread.remove_prefix(used + body); break;
//     case parse_status::incomplete: read more, call again with all unread bytes
//     default:                       write error_response(status), close
//     }
//
// The parser is strict (RFC 9112) where leniency has been a request-smuggling
// or header-injection hole, and answers every refusal with the status code
// a server should send (status_code()):
//
//   * lines end in CR LF. A bare LF or a lone CR is a 400: being lenient about
//     line ends is how front and back ends come to disagree about framing.
//     Empty lines before the request line are skipped (RFC 9112 section 2.2).
//   * request line: a token method, one SP, a target of visible non-space
//     bytes (obs-text, bytes >= 0x80, allowed), one SP, "HTTP/1.0" or
//     "HTTP/1.1". A well-formed other version ("HTTP/2.0") is a 505.
//   * header names are tokens followed directly by ':' (whitespace before
//     the colon is a 400); folded lines (obs-fold) are a 400; values lose
//     their surrounding spaces and tabs and may hold no control byte but HTAB.
//   * Content-Length is digits only, fits std::size_t, and repeated lines
//     must agree; a list ("5, 5") is a 400.
//   * Transfer-Encoding together with Content-Length, or in an HTTP/1.0
//     request, is a 400. A single "Transfer-Encoding: chunked" parses (with
//     `chunked` set; io/http1_chunked.hpp decodes the body); any
//     other transfer coding is a 501, as in Go's server.
//   * HTTP/1.1 requests need exactly one Host header; a second one is a 400
//     in any version.
//   * the head (request line, headers and the empty line) may be at most
//     k_max_head_size bytes and hold at most k_max_headers fields; beyond
//     either it is a 431.
//
// Incremental use: the result for a prefix of the bytes is either
// `incomplete` or final. Once a prefix gives a non-incomplete result, every
// longer buffer starting with it gives the same result and `consumed`, so
// feeding a request byte by byte ends exactly where parsing it whole does.
// A line is judged only once its LF has arrived; `incomplete` costs a rescan
// from the start on the next call, which is cheap next to a read().
//
// Everything in `request` points into the caller's buffer and is valid while
// those bytes are.
#pragma once

#include <array>
#include <cstddef>
#include <ctime>
#include <optional>
#include <span>
#include <string_view>

namespace goro::http {

/// Longest request head (request line through the empty line) accepted.
inline constexpr std::size_t k_max_head_size = 8 * 1024;
/// Most header fields accepted in one request.
inline constexpr std::size_t k_max_headers = 64;

enum class parse_status : unsigned char {
    complete,               ///< a whole head was parsed; see `consumed`
    incomplete,             ///< more bytes are needed
    bad_request,            ///< 400: malformed or ambiguous
    too_large,              ///< 431: head over k_max_head_size or k_max_headers
    version_not_supported,  ///< 505: a well-formed version other than 1.0 / 1.1
    not_implemented,        ///< 501: a transfer coding other than chunked
};

/// The HTTP status a server answers with: 400, 431, 505, 501; 0 for
/// complete and incomplete.
[[nodiscard]] int status_code(parse_status s) noexcept;

struct header_field {
    std::string_view name;   ///< as received (case kept); a token
    std::string_view value;  ///< without leading or trailing spaces and tabs
};

struct request {
    std::string_view method;  ///< "GET", case-sensitive as the RFC says
    std::string_view target;  ///< "/index.html?q=1", "*", "http://host/", ...
    int version_minor = 1;    ///< 0 for HTTP/1.0, 1 for HTTP/1.1
    /// Whether the connection may serve another request after this one:
    /// HTTP/1.1 unless "Connection: close"; HTTP/1.0 only with
    /// "Connection: keep-alive" (and no "close"). Tokens are case-insensitive.
    bool keep_alive = false;
    bool chunked = false;            ///< "Transfer-Encoding: chunked"
    std::size_t content_length = 0;  ///< body bytes after the head; 0 if none given
    std::size_t header_count = 0;    ///< fields used in header_storage
    std::array<header_field, k_max_headers> header_storage{};

    /// The header fields in the order received.
    [[nodiscard]] std::span<const header_field> headers() const noexcept {
        return {header_storage.data(), header_count};
    }

    /// The value of the first field named `name` (ASCII case-insensitive),
    /// or nullopt when there is none. An empty value is an empty view.
    [[nodiscard]] std::optional<std::string_view> header(std::string_view name) const noexcept;
};

/// Parses the head of one request at the start of `buffer` into `out`.
/// On `complete`, `consumed` is the length of the head (the body, if any,
/// follows it: content_length bytes, or chunks when `chunked`); on any
/// other result `consumed` is 0 and `out` is unspecified. Never reads
/// beyond `buffer`, never allocates.
[[nodiscard]] parse_status parse_request(std::string_view buffer, request& out, std::size_t& consumed) noexcept;

/// ASCII case-insensitive equality, as header names compare.
[[nodiscard]] bool iequals(std::string_view a, std::string_view b) noexcept;

/// True if s is a token (RFC 9110 section 5.6.2): non-empty, made of the
/// bytes a method or a field name may hold.
[[nodiscard]] bool is_token(std::string_view s) noexcept;

/// True if every byte of s may appear in a field value: HTAB, SP, visible
/// ASCII and obs-text (no CR, LF, NUL or other control byte). Empty is valid.
[[nodiscard]] bool is_field_value(std::string_view s) noexcept;

/// "OK", "Not Found", ... for the codes of RFC 9110; "" for unknown codes.
[[nodiscard]] std::string_view status_reason(int status) noexcept;

/// Writes a whole response into out[0, cap) and returns its length, or 0
/// when it does not fit or an argument is invalid (status outside 100-999;
/// CR or LF in reason or content_type; extra_headers not ending in CR LF;
/// a body with a 1xx or 204 status). The layout:
///
///     HTTP/1.1 <status> <reason or status_reason(status)>\r\n
///     Content-Type: <content_type>\r\n      unless content_type is empty
///     Content-Length: <body size>\r\n       unless 1xx or 204
///     Connection: close\r\n                 unless keep_alive
///     <extra_headers>                       raw "Name: value\r\n" lines
///     \r\n
///     <body>
///
/// An HTTP/1.0 client that asked for keep-alive needs
/// "Connection: keep-alive\r\n" in extra_headers; a cached Date line
/// (see format_date) goes there too.
[[nodiscard]] std::size_t format_response(char* out, std::size_t cap, int status, std::string_view reason,
                                          std::string_view content_type, std::string_view body, bool keep_alive,
                                          std::string_view extra_headers = {}) noexcept;

/// Length of an IMF-fixdate, the HTTP Date format.
inline constexpr std::size_t k_date_size = 29;

/// Writes `t` as "Sun, 06 Nov 1994 08:49:37 GMT" (k_date_size bytes, no
/// NUL) and returns k_date_size, or 0 if cap is smaller or t falls outside
/// the years 0000-9999.
[[nodiscard]] std::size_t format_date(char* out, std::size_t cap, std::time_t t) noexcept;

/// A complete canned response for a parse failure (400, 431, 501, 505),
/// with "Connection: close" and a short text body; "" for complete and
/// incomplete. Send it, then close the connection.
[[nodiscard]] std::string_view error_response(parse_status s) noexcept;

}  // namespace goro::http
