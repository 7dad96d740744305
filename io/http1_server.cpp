// goro::http server — the connection loop. See http1_server.hpp for what it
// promises; the request body and the response writer are in http1_body.cpp.
//
// Buffer. Each connection reads into one fixed buffer of k_buffer_size
// bytes; buf[lo, hi) is input not yet used. While a head is incomplete the
// unread bytes are moved to the front before each read, and the parser
// answers too_large once they reach k_max_head_size, so the buffer never
// fills during a head. While the handler runs, buf[0, floor) holds the head
// it sees (request views point there) and is never moved; the body's reads
// move unread bytes down to `floor` only. Before the handler of a request
// with a body runs, its head is moved to the front if fewer than
// k_body_room bytes follow it, so that a chunk-size line or a trailer
// section (each at most k_body_room bytes: the decoder's limits) always fits
// behind the head.
//
// Output. Responses are appended to `out` and written when the connection
// is about to wait for input (fill, read_into), when `out` grows past
// k_flush_threshold, and before closing: pipelined requests in one read get
// one write, and no read ever blocks while responses are pending (a client
// may wait for them before sending more).
//
// Deadlines (server_options): while a head is incomplete the read deadline
// is t0 + read_header_timeout (and t0 + read_timeout), t0 being the moment
// the request's first byte was seen (the start of serve_conn for the first
// request): it is fixed per request, not per read, so dribbling bytes does
// not extend it. With no byte of the next request yet, the deadline is
// now + idle_timeout. While the handler runs it is t0 + read_timeout, or
// none. A timeout, an end of stream or an error while waiting for a head
// closes the connection without an answer, as Go does.
#include "http1_server.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "http1_server_detail.hpp"

namespace goro::http {
namespace detail {

namespace {

using clock = net::deadline_clock;

// t + d, or no deadline for d <= 0 or a d too large to add.
net::deadline_point after(clock::time_point t, std::chrono::nanoseconds d) noexcept {
    if (d.count() <= 0) return net::no_deadline;
    if (d > clock::time_point::max() - t) return net::no_deadline;
    return t + std::chrono::duration_cast<clock::duration>(d);
}

net::deadline_point earlier(net::deadline_point a, net::deadline_point b) noexcept {
    if (a == net::no_deadline) return b;
    if (b == net::no_deadline) return a;
    return std::min(a, b);
}

// The status a failed body read makes the server answer with, or 0 when
// the failure is the connection's (timeout, reset, end of stream): then the
// handler's response goes out and the connection closes.
int status_for_body_error(std::error_code e) noexcept {
    if (e == errc::body_too_large) return 413;
    if (e == errc::bad_chunked_body) return 400;
    if (e == errc::trailers_too_large) return 431;
    return 0;
}

}  // namespace

conn_state::conn_state(net::tcp_stream c, const server_options& o)
    : conn(std::move(c)), opts(o), buf(std::make_unique_for_overwrite<char[]>(k_buffer_size)) {}

void conn_state::set_read_deadline(net::deadline_point d) noexcept {
    if (d == read_deadline) return;  // one lock and walk of the socket's pending list saved
    read_deadline = d;
    conn.set_read_deadline(d);
}

task<result<void>> conn_state::flush() {
    if (out.empty()) co_return result<void>{};
    if (broken) co_return make_error_code(net::errc::closed);
    if (opts.write_timeout.count() > 0) conn.set_write_deadline(after(clock::now(), opts.write_timeout));
    auto w = co_await conn.write_all(out);
    out.clear();
    if (!w) {
        broken = true;
        co_return w.error();
    }
    co_return result<void>{};
}

task<result<std::size_t>> conn_state::fill() {
    auto f = co_await flush();
    if (!f) co_return f.error();
    if (lo > floor) {
        std::memmove(buf.get() + floor, buf.get() + lo, hi - lo);
        hi -= lo - floor;
        lo = floor;
    }
    // The buffer comment's invariant: a head, a chunk line or a trailer
    // section that is still incomplete is shorter than the room it has.
    if (hi == k_buffer_size) co_return make_error_code(std::errc::no_buffer_space);
    auto n = idle ? co_await conn.read(buf.get() + hi, k_buffer_size - hi, shutdown)
                  : co_await conn.read(buf.get() + hi, k_buffer_size - hi);
    if (!n) co_return n.error();
    if (*n == 0) peer_eof = true;
    hi += *n;
    co_return *n;
}

task<result<std::size_t>> conn_state::read_into(void* data, std::size_t size) {
    auto f = co_await flush();
    if (!f) co_return f.error();
    auto n = co_await conn.read(data, size);
    if (!n) co_return n.error();
    if (*n == 0) peer_eof = true;
    co_return *n;
}

void conn_state::start_body(body& b, const request& req) noexcept {
    b.m_conn = this;
    b.m_chunked = req.chunked;
    b.m_length = req.content_length;
    b.m_remaining = req.chunked ? 0 : req.content_length;
    b.m_finished = !req.chunked && req.content_length == 0;
    b.m_total = 0;
    b.m_limit = opts.max_body_bytes;
    b.m_error = {};
    b.m_decoder = chunked_decoder{};
    b.m_trailer_text.clear();
    b.m_trailers.clear();
    // Go: "100 Continue" only for HTTP/1.1 requests that have a body.
    b.m_wrote_continue = false;
    b.m_expect_continue = false;
    if (!b.m_finished && req.version_minor == 1) {
        if (auto e = req.header("expect"); e && iequals(*e, "100-continue")) b.m_expect_continue = true;
    }
}

task<body_end> conn_state::finish_body(body& b) {
    if (b.m_error) co_return body_end{status_for_body_error(b.m_error)};
    if (b.m_finished) co_return body_end{};
    // The client waits for a 100 Continue that was never sent: it may or
    // may not send the body, so the next bytes cannot be trusted to be a
    // request. Go closes too.
    if (b.m_expect_continue && !b.m_wrote_continue) co_return body_end{0, true};
    if (!b.m_chunked && b.m_remaining > k_max_discard) co_return body_end{0, true};
    // Skip the rest, up to k_max_discard bytes (Go's maxPostHandlerReadBytes):
    // cheaper than a new connection, and the body's framing errors still
    // get their 400 / 413.
    auto scratch = std::make_unique_for_overwrite<char[]>(k_discard_chunk);
    std::size_t discarded = 0;
    for (;;) {
        auto n = co_await b.read(scratch.get(), k_discard_chunk);
        if (!n) co_return body_end{status_for_body_error(n.error()), true};
        if (*n == 0) co_return body_end{};
        discarded += *n;
        if (discarded > k_max_discard) co_return body_end{0, true};
    }
}

task<void> conn_state::linger() {
    if (peer_eof || broken || opts.linger_timeout.count() <= 0 || opts.linger_max_bytes == 0) co_return;
    if (!conn.close_write()) co_return;
    set_read_deadline(after(clock::now(), opts.linger_timeout));
    std::size_t drained = 0;
    for (;;) {
        auto n = co_await conn.read(buf.get(), k_buffer_size);
        if (!n || *n == 0) break;
        drained += *n;
        if (drained >= opts.linger_max_bytes) break;
    }
}

}  // namespace detail

task<void> serve_conn(net::tcp_stream conn, handler h, server_options opts, context shutdown) {
    using clock = net::deadline_clock;
    using detail::after;
    detail::conn_state c(std::move(conn), opts);
    c.shutdown = std::move(shutdown);
    request req;
    body b;
    response resp;
    bool first = true;    // no request read yet
    bool linger = false;  // at the end: a response went out and the client may still be sending
    for (;;) {
        // ---- 1. the next request's head
        c.floor = 0;
        std::optional<clock::time_point> t0;  // when this request's first byte was seen
        if (first) t0 = clock::now();
        parse_status st = parse_status::incomplete;
        std::size_t used = 0;
        bool gone = false;
        for (;;) {
            if (!t0 && c.lo < c.hi) t0 = clock::now();  // bytes of this request are here (pipelined or just read)
            st = parse_request(c.unread(), req, used);
            if (st != parse_status::incomplete) break;
            // Nothing of a next request yet: the server's shutdown ends the wait.
            c.idle = !t0 && !first;
            if (c.idle && c.shutdown.err()) {
                gone = true;
                break;
            }
            c.set_read_deadline(t0 ? detail::earlier(after(*t0, opts.read_header_timeout), after(*t0, opts.read_timeout))
                                   : after(clock::now(), opts.idle_timeout));
            auto n = co_await c.fill();
            c.idle = false;
            if (!n || *n == 0) {
                gone = true;  // timeout, end of stream or error: close without an answer
                break;
            }
        }
        if (gone) break;
        // A verdict needs at least one byte, so t0 is set from here on.
        if (st != parse_status::complete) {
            c.out += error_response(st);
            linger = true;
            break;
        }
        first = false;

        // ---- 2. room behind the head for the body's control lines
        const bool has_body = req.chunked || req.content_length > 0;
        if (has_body && c.lo > 0 && detail::k_buffer_size - (c.lo + used) < detail::k_body_room) {
            std::memmove(c.buf.get(), c.buf.get() + c.lo, c.hi - c.lo);
            c.hi -= c.lo;
            c.lo = 0;
            // The same bytes: the same verdict (the parser is deterministic).
            st = parse_request(c.unread(), req, used);
            if (st != parse_status::complete) break;
        }

        // ---- 3. what the server refuses without the handler
        if (auto e = req.header("expect"); e && !iequals(*e, "100-continue")) {
            detail::append_error(c.out, 417);
            linger = true;
            break;
        }
        if (!req.chunked && req.content_length > opts.max_body_bytes) {
            detail::append_error(c.out, 413);  // no 100 Continue: the client need not send it
            linger = true;
            break;
        }

        // ---- 4. the handler
        c.lo += used;
        c.floor = c.lo;
        c.start_body(b, req);
        // Body reads run under read_timeout only. Without a body nothing is
        // read until the next head, which sets its own deadline.
        if (has_body) c.set_read_deadline(after(*t0, opts.read_timeout));
        resp.status = 200;
        resp.reason.clear();
        resp.content_type.clear();
        resp.headers.clear();
        resp.body.clear();
        resp.close = false;
        bool threw = false;
        try {
            co_await h(req, b, resp);
        } catch (...) {
            threw = true;  // Go recovers a handler's panic and drops the connection; we answer 500 first
        }

        // ---- 5. the rest of the body, then the response
        if (threw) {
            detail::append_error(c.out, 500);  // closing anyway: the body is left to the lingering close
            linger = true;
            break;
        }
        const detail::body_end end = co_await c.finish_body(b);
        if (end.refuse != 0) {
            detail::append_error(c.out, end.refuse);
            linger = true;
            break;
        }
        const bool close = !req.keep_alive || resp.close || end.close;
        detail::append_response(c.out, req, resp, close);
        if (close) {
            linger = true;
            break;
        }
        if (c.out.size() >= detail::k_flush_threshold) {
            auto f = co_await c.flush();
            if (!f) break;
        }
    }
    // Whatever is still queued goes out (a no-op when nothing is, or after
    // a failed write), then the lingering close where a response ended it.
    auto flushed = co_await c.flush();
    if (flushed && linger) co_await c.linger();
    (void)c.conn.close();
}

GORO_CORO_WRAPPER task<result<void>> serve(net::tcp_listener listener, handler h, server_options opts) {
    // Not a coroutine lambda: serve_conn copies h and opts into its own
    // frame, so a connection outlives this closure (and serve) safely.
    return net::serve(std::move(listener), [h = std::move(h), opts](net::tcp_stream conn) {
        return serve_conn(std::move(conn), h, opts);
    });
}

}  // namespace goro::http
