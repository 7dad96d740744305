// goro::net::unix_listener and unix_stream — Unix-domain stream sockets
// (Go's net.Listen("unix") / net.Dial("unix")). Paths follow
// address::unix_path: "@name" is a Linux abstract socket.
//
// A listener bound to a filesystem path removes the path when it is closed
// (Go's UnixListener does the same by default).
//
// connect and accept take a goro::context as Go's DialContext does (the
// result conventions are those of socket.hpp):
//
//     auto [ctx, cancel] = goro::with_timeout(goro::background(), 1s);
//     auto c = co_await goro::net::unix_stream::connect("/run/app.sock", ctx);
//     auto a = co_await listener.accept(ctx);   // ctx.err() once ctx is done
#pragma once

#include <string>
#include <string_view>

#include "socket.hpp"

namespace goro::net {

class unix_stream : public stream_socket {
public:
    using stream_socket::stream_socket;

    [[nodiscard]] static task<result<unix_stream>> connect(std::string path);
    [[nodiscard]] static task<result<unix_stream>> connect(address addr);
    /// connect() that ctx cancels: ctx.err() once it is done.
    [[nodiscard]] static task<result<unix_stream>> connect(std::string path, context ctx);
    [[nodiscard]] static task<result<unix_stream>> connect(address addr, context ctx);

    /// A connected pair (socketpair(AF_UNIX, SOCK_STREAM)).
    [[nodiscard]] static result<std::pair<unix_stream, unix_stream>> pair();
};

class unix_listener : public socket_handle {
public:
    using socket_handle::socket_handle;

    [[nodiscard]] static result<unix_listener> listen(std::string_view path, int backlog = 4096);

    [[nodiscard]] detail::accept_io<unix_stream> accept() const noexcept {
        return detail::accept_io<unix_stream>{state()};
    }
    /// accept() that ctx cancels: ctx.err() once it is done.
    [[nodiscard]] goro::detail::ctx_io<detail::accept_io<unix_stream>> accept(const context& ctx) const noexcept {
        return goro::detail::ctx_io<detail::accept_io<unix_stream>>(ctx, state());
    }

    /// Closes the listener and unlinks its path (not for abstract sockets).
    result<void> close() noexcept;

private:
    std::shared_ptr<std::string> m_path;  // unlinked by close(); empty for abstract sockets
};

}  // namespace goro::net
