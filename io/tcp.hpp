// goro::net::tcp_listener and tcp_stream — Go's net.Listen("tcp") and net.Dial("tcp").
//
//     auto l = goro::net::tcp_listener::listen("127.0.0.1:8080").value();
//     for (;;) {
//         auto c = co_await l.accept();
//         if (!c) { if (goro::net::is_closed(c.error())) break; ... }
//         goro::go(handle(std::move(*c)));
//     }
//
//     auto c = co_await goro::net::tcp_stream::connect("127.0.0.1:8080", 2s);
//     co_await c->write_all("hello");
//
//     // Go's DialContext / Accept bounded by a context (see socket.hpp):
//     auto [ctx, cancel] = goro::with_timeout(goro::background(), 2s);
//     auto d = co_await goro::net::tcp_stream::connect(addr, ctx);
//     auto a = co_await l.accept(ctx);      // ctx.err() once ctx is done
//
// A server that must survive running out of descriptors (EMFILE, ENFILE) or
// memory for sockets should back off and retry rather than stop: serve()
// below does that (5 ms doubling to 1 s, as Go's net/http server), and
// ignores ECONNABORTED (a client that gave up while queued).
//
// Graceful shutdown (Go's http.Server.Shutdown, for any TCP protocol):
//
//     auto [ctx, stop] = goro::signal::notify_context(goro::background(), {SIGINT, SIGTERM});
//     auto r = co_await goro::net::serve(std::move(l), ctx, 5s,
//         [](goro::net::tcp_stream c, goro::context ctx) -> goro::task<> { ... });
//     // ctx done: no new connections; the handlers had 5 s to finish
#pragma once

#include <chrono>
#include <functional>
#include <source_location>
#include <string_view>

#include "socket.hpp"

namespace goro::net {

class tcp_stream : public stream_socket {
public:
    using stream_socket::stream_socket;

    /// Dials addr. timeout <= 0 fails at once with errc::timeout; the default
    /// (max) waits as long as the kernel does.
    [[nodiscard]] static task<result<tcp_stream>> connect(
        address addr, std::chrono::nanoseconds timeout = std::chrono::nanoseconds::max());
    /// "host:port"; a host name is resolved first (goro::net::resolve) and
    /// each of its addresses tried in turn. A lookup with a timeout runs in a
    /// task of its own, spawned at `site` (the caller's line).
    [[nodiscard]] static task<result<tcp_stream>> connect(
        std::string_view host_port, std::chrono::nanoseconds timeout = std::chrono::nanoseconds::max(),
        std::source_location site = std::source_location::current());
    /// Dials addr until it connects, fails or ctx is done (then ctx.err():
    /// context_errc::canceled, or deadline_exceeded for a context with a
    /// deadline: with_timeout(parent, 2s) is a dial timeout). Go's DialContext.
    [[nodiscard]] GORO_CORO_WRAPPER static task<result<tcp_stream>> connect(address addr, context ctx) {
        return dial(std::move(addr), std::chrono::nanoseconds::max(), std::move(ctx));
    }
    /// "host:port" under ctx; host names resolve first, and ctx bounds the
    /// lookup too (see resolve() in net.hpp).
    [[nodiscard]] GORO_CORO_WRAPPER static task<result<tcp_stream>> connect(
        std::string_view host_port, context ctx, std::source_location site = std::source_location::current()) {
        return dial(host_port, std::chrono::nanoseconds::max(), std::move(ctx), site);
    }

    /// TCP_NODELAY (Go sets it by default; goro does too for connect and accept).
    result<void> set_nodelay(bool on) const noexcept;

private:
    // The connects above: timeout (max = none) and ctx (background() = none) both apply.
    static task<result<tcp_stream>> dial(address addr, std::chrono::nanoseconds timeout, context ctx);
    static task<result<tcp_stream>> dial(std::string_view host_port, std::chrono::nanoseconds timeout, context ctx,
                                         std::source_location site);
};

class tcp_listener : public socket_handle {
public:
    using socket_handle::socket_handle;

    /// socket + SO_REUSEADDR (+ SO_REUSEPORT) + bind + listen. Port 0 picks a
    /// free port: see local_address().
    [[nodiscard]] static result<tcp_listener> listen(const address& addr, listen_options opts = {});
    /// "host:port", as Go's net.Listen takes it: ":port" listens on every
    /// address, IPv6 and IPv4 on one socket; a numeric host on that address; a
    /// host name ("localhost:8080") on its first address, looked up on this
    /// thread (see io/detail/listen_address.hpp).
    [[nodiscard]] static result<tcp_listener> listen(std::string_view host_port, listen_options opts = {});

    /// Waits for the next connection. Go's Accept.
    [[nodiscard]] detail::accept_io<tcp_stream> accept() const noexcept {
        return detail::accept_io<tcp_stream>{state()};
    }
    /// accept() that ctx cancels: ctx.err() once it is done.
    [[nodiscard]] goro::detail::ctx_io<detail::accept_io<tcp_stream>> accept(const context& ctx) const noexcept {
        return goro::detail::ctx_io<detail::accept_io<tcp_stream>>(ctx, state());
    }
};

/// Accepts connections until the listener is closed and starts
/// handler(connection) as a goroutine for each. Out of descriptors or socket
/// memory (EMFILE, ENFILE, ENOBUFS, ENOMEM): sleeps 5 ms, doubling to 1 s,
/// and tries again; ECONNABORTED is skipped. Returns when accept fails with
/// errc::closed (success) or another error (that error); the connections'
/// tasks go on. The handler (kept, captures and all, until the last of its
/// tasks ends) runs as a goroutine spawned at `site`: the goroutine dump
/// and a panic's report show the line that called serve.
[[nodiscard]] task<result<void>> serve(tcp_listener listener, std::function<task<void>(tcp_stream)> handler,
                                       std::source_location site = std::source_location::current());

/// serve() until ctx is done, then a graceful shutdown (Go's
/// http.Server.Shutdown): the listener is closed (no new connections), the
/// context passed to every handler is cancelled (so a handler waiting for
/// the next request with that context stops at once), and the handlers
/// still running get `grace` to finish. After that, the connections whose
/// handler has not returned are closed (their pending and later operations
/// fail with errc::closed) and serve returns without waiting for those
/// handlers. A connection counts as open while its handler runs (one the
/// handler hands to another task and returns is no longer serve's).
///
/// The same shutdown follows a listener closed by someone else, or an
/// accept error that is not transient. Returns success when every handler
/// finished within the grace period, context_errc::deadline_exceeded (as
/// Go's Shutdown returns its context's error) when connections had to be
/// closed, and the accept error if accept failed. Each handler gets a
/// context of its own, a child of ctx (so it carries ctx's values),
/// cancelled when its handler returns.
[[nodiscard]] task<result<void>> serve(tcp_listener listener, context ctx, std::chrono::nanoseconds grace,
                                       std::function<task<void>(tcp_stream, context)> handler,
                                       std::source_location site = std::source_location::current());
/// The same with a handler that takes no context.
[[nodiscard]] task<result<void>> serve(tcp_listener listener, context ctx, std::chrono::nanoseconds grace,
                                       std::function<task<void>(tcp_stream)> handler,
                                       std::source_location site = std::source_location::current());

}  // namespace goro::net
