// goro::http server internals shared by io/http1_server.cpp (the connection
// loop) and io/http1_body.cpp (request bodies, response writing). Not API.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "http1_server.hpp"

namespace goro::http::detail {

/// Room that must follow a head in the buffer while its body is read: the
/// longest incomplete chunk-size line or trailer section (see
/// io/http1_chunked.hpp: `incomplete` means fewer unconsumed bytes than that).
inline constexpr std::size_t k_body_room = k_max_chunk_line > k_max_trailer_size ? k_max_chunk_line : k_max_trailer_size;
/// The connection's input buffer: the largest head, then the body room.
inline constexpr std::size_t k_buffer_size = k_max_head_size + k_body_room;
/// Pending responses are written once they reach this size.
inline constexpr std::size_t k_flush_threshold = 64 * 1024;
/// The most body bytes skipped after a handler that did not read them all
/// (Go's maxPostHandlerReadBytes); beyond that the connection is closed.
inline constexpr std::size_t k_max_discard = 256 * 1024;
/// The scratch buffer that skipping reads into.
inline constexpr std::size_t k_discard_chunk = 16 * 1024;

/// How a request's body ended, after the handler.
struct body_end {
    int refuse = 0;      ///< a status (400, 413, 431) that replaces the handler's response; 0: none
    bool close = false;  ///< the connection cannot carry another request
};

/// One connection: socket, input buffer, pending output. Owned by
/// serve_conn's frame; a body points to it while its handler runs.
struct conn_state {
    conn_state(net::tcp_stream c, const server_options& o);

    net::tcp_stream conn;
    server_options opts;
    std::unique_ptr<char[]> buf;  // k_buffer_size bytes
    std::size_t lo = 0;           // buf[lo, hi): input not yet used
    std::size_t hi = 0;
    std::size_t floor = 0;        // fill() moves nothing below it (the handler's head)
    std::string out;              // responses not yet written, in order
    bool peer_eof = false;        // a read returned 0: the client sends nothing more
    bool broken = false;          // a write failed: nothing more can be sent
    net::deadline_point read_deadline = net::no_deadline;  // as last set on conn
    // The server's shutdown context (serve_conn's ctx) and whether the
    // connection is idle between requests: only then does fill() read under
    // ctx, so a shutdown closes idle connections at once and lets a request
    // in progress finish.
    context shutdown = background();
    bool idle = false;

    [[nodiscard]] std::string_view unread() const noexcept { return {buf.get() + lo, hi - lo}; }
    /// Sets conn's read deadline unless it already is d.
    void set_read_deadline(net::deadline_point d) noexcept;
    /// Writes `out` (under write_timeout) and empties it.
    [[nodiscard]] task<result<void>> flush();
    /// Flushes, moves the unread bytes down to `floor`, and reads once into
    /// the free end of the buffer: the count, 0 at end of stream.
    [[nodiscard]] task<result<std::size_t>> fill();
    /// Flushes, then reads once straight into data (nothing may be buffered).
    [[nodiscard]] task<result<std::size_t>> read_into(void* data, std::size_t size);
    /// Sets b up for req's body (http1_server.cpp).
    void start_body(body& b, const request& req) noexcept;
    /// After the handler: skips what it left of the body (see body_end).
    [[nodiscard]] task<body_end> finish_body(body& b);
    /// The lingering close's draining part (see http1_server.hpp).
    [[nodiscard]] task<void> linger();
};

/// Appends a canned "<status> <reason>" text/plain response with
/// "Connection: close" (http1_body.cpp).
void append_error(std::string& out, int status);

/// Appends the handler's response (or a 500 when it breaks a rule of
/// http::response), with Date, Content-Length and Connection.
void append_response(std::string& out, const request& req, const response& resp, bool close);

}  // namespace goro::http::detail
