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
#pragma once

#include <chrono>
#include <functional>
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
    /// each of its addresses tried in turn.
    [[nodiscard]] static task<result<tcp_stream>> connect(
        std::string_view host_port, std::chrono::nanoseconds timeout = std::chrono::nanoseconds::max());
    /// Dials addr until it connects, fails or ctx is done (then ctx.err():
    /// context_errc::canceled, or deadline_exceeded for a context with a
    /// deadline: with_timeout(parent, 2s) is a dial timeout). Go's DialContext.
    [[nodiscard]] GORO_CORO_WRAPPER static task<result<tcp_stream>> connect(address addr, context ctx) {
        return dial(std::move(addr), std::chrono::nanoseconds::max(), std::move(ctx));
    }
    /// "host:port" under ctx; host names resolve first, and ctx bounds the
    /// lookup too (see resolve() in net.hpp).
    [[nodiscard]] GORO_CORO_WRAPPER static task<result<tcp_stream>> connect(std::string_view host_port, context ctx) {
        return dial(host_port, std::chrono::nanoseconds::max(), std::move(ctx));
    }

    /// TCP_NODELAY (Go sets it by default; goro does too for connect and accept).
    result<void> set_nodelay(bool on) const noexcept;

private:
    // The connects above: timeout (max = none) and ctx (background() = none) both apply.
    static task<result<tcp_stream>> dial(address addr, std::chrono::nanoseconds timeout, context ctx);
    static task<result<tcp_stream>> dial(std::string_view host_port, std::chrono::nanoseconds timeout, context ctx);
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
/// errc::closed (success) or another error (that error).
[[nodiscard]] task<result<void>> serve(tcp_listener listener,
                                       std::function<task<void>(tcp_stream)> handler);

}  // namespace goro::net
