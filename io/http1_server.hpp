// goro::http server — an HTTP/1.1 connection loop over goro::net, with the
// defences a server facing the internet needs (Go's net/http server is the
// reference for every behaviour below).
//
//     goro::task<void> hello(const goro::http::request& req, goro::http::body& body,
//                            goro::http::response& resp) {
//         auto all = co_await body.read_all();   // optional: the request body
//         resp.content_type = "text/plain";
//         resp.body = "Hello, World!";
//     }
//     ...
//     co_await goro::http::serve(std::move(listener), hello, {.max_body_bytes = 1 << 20});
//     // or, per accepted connection: co_await goro::http::serve_conn(std::move(conn), hello);
//
// One task per connection reads requests (io/http1.hpp parses the heads),
// calls the handler for each, and writes the responses, in order. Requests
// pipelined in one read are answered with one write.
//
// What the server does on its own:
//   * request bodies: Content-Length, or Transfer-Encoding: chunked decoded
//     with its extensions and trailers (io/http1_chunked.hpp; trailers in
//     body::trailers()). Both at once, another transfer coding, malformed
//     heads: 400 / 501 / 505 and close, as the parser decides.
//   * a Content-Length over max_body_bytes: 413 without calling the
//     handler or reading the body, then close. A chunked body that grows
//     past it: the read fails with errc::body_too_large and the client gets
//     413 whatever the handler answered, then close. Malformed chunking
//     likewise: 400 and close. A head over k_max_head_size: 431 and close.
//   * Expect: 100-continue (HTTP/1.1, with a body): "HTTP/1.1 100 Continue"
//     is sent when the handler first reads the body, as Go does: a handler
//     that answers without reading never asks for the body (and the
//     connection then closes after the response: the client may or may not
//     send it). Any other expectation: 417 and close.
//   * a body the handler did not read is skipped after it returns, up to
//     256 KiB (Go's maxPostHandlerReadBytes) before the response is sent;
//     more than that, and the connection closes after the response.
//   * timeouts (0 = none; see server_options): read_header_timeout bounds the
//     time from a request's first byte (from accept for the first request)
//     to the end of its head: a slowloris client is disconnected without an
//     answer. idle_timeout bounds the wait for the next request on a
//     keep-alive connection. read_timeout bounds head and body together;
//     write_timeout each write of responses.
//   * lingering close: when the server closes a connection after a response
//     (an error, "Connection: close", a body left unread) it shuts down its
//     sending side and reads and discards what the client still sends, for
//     at most linger_timeout and linger_max_bytes, before closing. Closing
//     with unread input makes the kernel send a reset, which can destroy the
//     response before the client has read it (a client still uploading when
//     it gets its 413 is the usual case).
//   * responses carry Date and Content-Length; "Connection: close" when the
//     connection closes after them, "Connection: keep-alive" for an HTTP/1.0
//     client that asked for it. HEAD responses have no body.
//   * an exception escaping the handler: 500 and close.
//
// The handler gets the parsed head (views into the connection's buffer,
// valid until the handler returns), the body, and a response to fill. The
// response is sent whole after the handler returns (no streaming).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <type_traits>
#include <vector>

#include "../runtime/context.hpp"
#include "../runtime/result.hpp"
#include "../runtime/task.hpp"
#include "http1.hpp"
#include "http1_chunked.hpp"
#include "tcp.hpp"

namespace goro::http {

/// The errors of category "goro.http", from body reads.
enum class errc : int {
    body_too_large = 1,  ///< "http: request body too large" (Go's wording): over max_body_bytes; 413
    bad_chunked_body,    ///< "http: malformed chunked encoding": 400
    trailers_too_large,  ///< "http: trailer section too large": over the trailer limits; 431
};

[[nodiscard]] const std::error_category& http_category() noexcept;
[[nodiscard]] inline std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), http_category()};
}

struct server_options {
    /// From a request's first byte (for the first request on a connection:
    /// from the start of serve_conn) to the end of its head. Go's
    /// ReadHeaderTimeout, whose default is none.
    std::chrono::nanoseconds read_header_timeout = std::chrono::seconds(10);
    /// From a request's first byte to the end of its body (head included).
    /// Go's ReadTimeout.
    std::chrono::nanoseconds read_timeout{0};
    /// Each write of responses (and of a 100 Continue). Go's WriteTimeout
    /// bounds the handler too; this bounds the sending only.
    std::chrono::nanoseconds write_timeout{0};
    /// Waiting for the next request on a keep-alive connection. Go's
    /// IdleTimeout (which falls back to ReadTimeout).
    std::chrono::nanoseconds idle_timeout = std::chrono::seconds(120);
    /// Largest request body: a longer Content-Length is refused with 413
    /// before the handler runs; a chunked body longer than this fails.
    std::size_t max_body_bytes = std::size_t{1} << 20;
    /// Lingering close: how long, and how many bytes, the server reads and
    /// discards after shutting down its side. 0 for either: no lingering.
    std::chrono::nanoseconds linger_timeout = std::chrono::seconds(2);
    std::size_t linger_max_bytes = std::size_t{1} << 20;
};

namespace detail {
struct conn_state;  // http1_server.cpp: the connection's buffer and socket
}

/// The request body, as the handler reads it. Also a goro byte stream:
/// goro::bufio::reader<goro::http::body&> reads it line by line.
class body {
public:
    body() = default;
    body(const body&) = delete;
    body& operator=(const body&) = delete;

    /// Reads up to size bytes of the body (decoded, when chunked): 0 at its
    /// end. Errors (sticky): errc::body_too_large, bad_chunked_body,
    /// trailers_too_large, io_errc::unexpected_eof (the client closed
    /// mid-body), the connection's errors (net::errc::timeout, ...).
    /// The first read sends "100 Continue" when the client expects it.
    [[nodiscard]] task<result<std::size_t>> read(void* data, std::size_t size);
    /// The rest of the body (at most max_body_bytes in all).
    [[nodiscard]] task<result<std::string>> read_all();

    /// The Content-Length; nullopt when chunked.
    [[nodiscard]] std::optional<std::size_t> content_length() const noexcept {
        if (m_chunked) return std::nullopt;
        return m_length;
    }
    [[nodiscard]] bool chunked() const noexcept { return m_chunked; }
    /// True once a read returned 0 (or there is no body).
    [[nodiscard]] bool finished() const noexcept { return m_finished; }
    /// The trailer fields of a chunked body, once it has been read to its end.
    [[nodiscard]] std::span<const header_field> trailers() const noexcept { return m_trailers; }
    /// The body's sticky error, if a read failed.
    [[nodiscard]] std::error_code error() const noexcept { return m_error; }

private:
    friend struct detail::conn_state;
    result<std::size_t> failed(std::error_code e) noexcept;
    void save_trailers(std::string_view section);

    detail::conn_state* m_conn = nullptr;
    bool m_chunked = false;
    bool m_finished = true;          // the whole body was read (or there is none)
    bool m_expect_continue = false;  // the client waits for "100 Continue" before sending
    bool m_wrote_continue = false;
    std::size_t m_length = 0;     // Content-Length
    std::size_t m_remaining = 0;  // Content-Length bytes not yet read
    std::size_t m_total = 0;      // decoded bytes read so far (chunked)
    std::size_t m_limit = 0;      // max_body_bytes
    std::error_code m_error;
    chunked_decoder m_decoder;
    std::string m_trailer_text;  // the trailer section; m_trailers point into it
    std::vector<header_field> m_trailers;
};

/// What the handler answers. The server adds Date, Content-Length and
/// Connection itself: `headers` may not name those (nor Transfer-Encoding);
/// a response that breaks a rule here is replaced by a 500.
struct response {
    int status = 200;          ///< 200-999, not 1xx; 204 and 304 take no body
    std::string reason;        ///< empty: status_reason(status)
    std::string content_type;  ///< empty: no Content-Type line
    std::string headers;       ///< extra "Name: value\r\n" lines
    std::string body;
    bool close = false;  ///< close the connection after this response
};

/// The handler: called once per request, in order, on the connection's task.
using handler = std::function<task<void>(const request&, body&, response&)>;

/// Serves HTTP/1.1 on one connection until it closes (see the file comment);
/// closes it at the end. The handler and options are copied into the task.
/// Once `shutdown` is done (the context net::serve gives a handler), a
/// connection waiting between requests is closed at once; a request in
/// progress is answered first (Go's http.Server.Shutdown).
[[nodiscard]] task<void> serve_conn(net::tcp_stream conn, handler h, server_options opts = {},
                                    context shutdown = background());

/// Accepts connections on `listener` and serves each with serve_conn, as
/// goro::net::serve does (and returns as it does: when the listener is
/// closed, success; on another accept error, that error).
[[nodiscard]] task<result<void>> serve(net::tcp_listener listener, handler h, server_options opts = {});

}  // namespace goro::http

template <>
struct std::is_error_code_enum<goro::http::errc> : std::true_type {};
