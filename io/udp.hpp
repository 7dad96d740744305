// goro::net::udp_socket — Go's net.ListenPacket("udp") / net.DialUDP.
//
//     auto s = goro::net::udp_socket::bind("127.0.0.1:0").value();
//     co_await s.send_to("ping", peer);
//     char buf[1500];
//     auto d = co_await s.recv_from(buf);     // d->size, d->from
//
// connect() fixes the peer: then send()/recv() exchange datagrams with it
// only. Deadlines, close() and a goro::context given as the last argument
// behave as for TCP (socket.hpp):
//
//     auto [ctx, cancel] = goro::with_timeout(goro::background(), 500ms);
//     auto d = co_await s.recv_from(buf, ctx);   // ctx.err() if nothing came in time
#pragma once

#include <span>
#include <string_view>

#include "socket.hpp"

namespace goro::net {

/// A received datagram: its size and its sender.
struct datagram {
    std::size_t size = 0;
    address from;
};

namespace detail {

struct recv_from_io : goro::detail::io_awaiter {
    address from;
    recv_from_io(goro::detail::fd_state* f, void* data, std::size_t size) noexcept {
        file = f ? f : goro::detail::closed_fd_state();
        buf = data;
        len = size;
        addr = from.data();
        mode = address::capacity();
        dir = goro::detail::io_dir::read;
        op = goro::detail::io_kind::recvmsg;
        reason = "IO wait (recvfrom)";
    }
    recv_from_io(recv_from_io&& o) noexcept : recv_from_io(o.file, o.buf, o.len) {}
    result<datagram> await_resume() noexcept {
        if (res < 0) return goro::detail::io_error(res);
        from.set_size(msg.msg_namelen);
        return datagram{static_cast<std::size_t>(res), from};
    }
};

struct send_to_io : goro::detail::io_awaiter {
    address to;
    send_to_io(goro::detail::fd_state* f, const void* data, std::size_t size, const address& dest) noexcept
        : to(dest) {
        file = f ? f : goro::detail::closed_fd_state();
        buf = const_cast<void*>(data);
        len = size;
        addr = to.data();
        addr_len = to.size();
        dir = goro::detail::io_dir::write;
        op = goro::detail::io_kind::sendmsg;
        reason = "IO wait (sendto)";
    }
    send_to_io(send_to_io&& o) noexcept : send_to_io(o.file, o.buf, o.len, o.to) {}
};

}  // namespace detail

class udp_socket : public socket_handle {
public:
    using socket_handle::socket_handle;

    /// A socket bound to addr (port 0: any free port).
    [[nodiscard]] static result<udp_socket> bind(const address& addr);
    /// "host:port" as tcp_listener::listen takes it (":port" is dual-stack, a
    /// host name is looked up on this thread).
    [[nodiscard]] static result<udp_socket> bind(std::string_view host_port);
    /// An unbound socket of the family (AF_INET or AF_INET6).
    [[nodiscard]] static result<udp_socket> open(int family = AF_INET);

    /// Sets the default peer (connect(2)); recv then only sees its datagrams.
    result<void> connect(const address& peer) const noexcept;

    [[nodiscard]] detail::send_to_io send_to(const void* data, std::size_t size, const address& to) const noexcept {
        return {state(), data, size, to};
    }
    [[nodiscard]] detail::send_to_io send_to(std::string_view s, const address& to) const noexcept {
        return send_to(s.data(), s.size(), to);
    }
    [[nodiscard]] detail::recv_from_io recv_from(void* data, std::size_t size) const noexcept {
        return {state(), data, size};
    }
    [[nodiscard]] detail::recv_from_io recv_from(std::span<char> b) const noexcept {
        return recv_from(b.data(), b.size());
    }
    /// send_to / recv_from that ctx cancels: ctx.err() once it is done.
    [[nodiscard]] goro::detail::ctx_io<detail::send_to_io> send_to(const void* data, std::size_t size,
                                                                   const address& to,
                                                                   const context& ctx) const noexcept {
        return goro::detail::ctx_io<detail::send_to_io>(ctx, state(), data, size, to);
    }
    [[nodiscard]] goro::detail::ctx_io<detail::send_to_io> send_to(std::string_view s, const address& to,
                                                                   const context& ctx) const noexcept {
        return send_to(s.data(), s.size(), to, ctx);
    }
    [[nodiscard]] goro::detail::ctx_io<detail::recv_from_io> recv_from(void* data, std::size_t size,
                                                                       const context& ctx) const noexcept {
        return goro::detail::ctx_io<detail::recv_from_io>(ctx, state(), data, size);
    }
    [[nodiscard]] goro::detail::ctx_io<detail::recv_from_io> recv_from(std::span<char> b,
                                                                       const context& ctx) const noexcept {
        return recv_from(b.data(), b.size(), ctx);
    }

    /// Connected mode.
    [[nodiscard]] detail::stream_io send(const void* data, std::size_t size) const noexcept {
        return {state(), const_cast<void*>(data), size, true};
    }
    [[nodiscard]] detail::stream_io send(std::string_view s) const noexcept { return send(s.data(), s.size()); }
    [[nodiscard]] detail::stream_io recv(void* data, std::size_t size) const noexcept {
        return {state(), data, size, false};
    }
    [[nodiscard]] detail::stream_io recv(std::span<char> b) const noexcept { return recv(b.data(), b.size()); }
    /// Connected mode, cancelled by ctx: ctx.err() once it is done.
    [[nodiscard]] detail::ctx_stream_io send(const void* data, std::size_t size, const context& ctx) const noexcept {
        return detail::ctx_stream_io(ctx, state(), const_cast<void*>(data), size, true);
    }
    [[nodiscard]] detail::ctx_stream_io send(std::string_view s, const context& ctx) const noexcept {
        return send(s.data(), s.size(), ctx);
    }
    [[nodiscard]] detail::ctx_stream_io recv(void* data, std::size_t size, const context& ctx) const noexcept {
        return detail::ctx_stream_io(ctx, state(), data, size, false);
    }
    [[nodiscard]] detail::ctx_stream_io recv(std::span<char> b, const context& ctx) const noexcept {
        return recv(b.data(), b.size(), ctx);
    }

    [[nodiscard]] result<address> peer_address() const;
};

}  // namespace goro::net
