// goro::net::socket — what every socket handle shares: ownership of the file,
// close, deadlines, addresses, and the byte-stream operations of TCP and Unix
// stream sockets (stream_socket).
//
// Handles are cheap copyable references to one shared open socket, like a Go
// net.Conn value: a reader task, a writer task and a task that closes can
// each hold one. The socket closes when close() is called or the last handle
// goes away. Every operation may run concurrently with the others, as in Go;
// two concurrent reads (or two writes) on one stream are allowed but their
// bytes interleave unpredictably.
//
// I/O results are goro::result values (runtime/result.hpp):
//   - read() returns the bytes read; 0 means the peer closed its side (EOF).
//     read_exact() turns an early end into goro::io_errc::eof (nothing read)
//     or goro::io_errc::unexpected_eof (part read), like Go's io.ReadFull.
//   - a deadline that passed: goro::net::errc::timeout ("i/o timeout");
//   - close() while blocked, or use after close: goro::net::errc::closed
//     ("use of closed network connection");
//   - anything the kernel reports (ECONNRESET, EPIPE, ECONNREFUSED, ...):
//     std::system_category() codes. SIGPIPE is never raised (MSG_NOSIGNAL);
//   - a goro::context passed to the operation was cancelled or its deadline
//     passed: exactly ctx.err() (goro::context_errc::canceled or
//     deadline_exceeded; is_timeout() holds for the latter).
//
// Every blocking operation has an overload taking a goro::context last, as Go
// code passes a ctx: when the context is done while the operation waits, the
// operation is cancelled on the ring and returns ctx.err(); a context already
// done fails at once, without any I/O. The context applies to that one call
// only (deadlines set on the socket still apply too; the first to fire wins).
//
//     auto [ctx, cancel] = goro::with_timeout(parent, 5s);
//     auto n = co_await conn.read(buf, ctx);
//     if (!n && n.error() == ctx.err()) ...  // cancelled, or the 5 s passed
//
// The awaiter keeps its own copy of the context; as with every awaiter here,
// await it in the expression that made it (the buffer and the handle must
// outlive it). read_exact and write_all take the context by value.
#pragma once

#include <chrono>
#include <coroutine>
#include <cstddef>
#include <memory>
#include <span>
#include <string_view>

#include "../runtime/context.hpp"
#include "../runtime/result.hpp"
#include "../runtime/task.hpp"
#include "address.hpp"
#include "deadline.hpp"
#include "detail/ctx_io.hpp"
#include "detail/io_op.hpp"
#include "net_error.hpp"

namespace goro::net {

/// Base of every socket handle.
class socket_handle {
public:
    /// An empty handle: operations fail with errc::closed.
    socket_handle() noexcept = default;
    /// Adopts an open descriptor (the handle closes it).
    explicit socket_handle(int fd);

    /// False for an empty handle (close() keeps the handle non-empty).
    [[nodiscard]] explicit operator bool() const noexcept { return m_state != nullptr; }
    /// The descriptor, -1 once closed. For setsockopt and friends only.
    [[nodiscard]] int native_handle() const noexcept;

    /// Closes the socket. Operations blocked on it (from any task) return
    /// errc::closed; later ones fail with errc::closed. Closing twice returns
    /// errc::closed (Go's net.Conn.Close does the same).
    result<void> close() noexcept;

    /// Go's SetDeadline / SetReadDeadline / SetWriteDeadline: applies to
    /// pending and future operations; a past time fails them at once with
    /// errc::timeout; no_deadline removes the deadline.
    void set_deadline(deadline_point t) noexcept;
    void set_read_deadline(deadline_point t) noexcept;
    void set_write_deadline(deadline_point t) noexcept;
    void set_deadline(std::chrono::system_clock::time_point t) noexcept;
    void set_read_deadline(std::chrono::system_clock::time_point t) noexcept;
    void set_write_deadline(std::chrono::system_clock::time_point t) noexcept;

    /// getsockname.
    [[nodiscard]] result<address> local_address() const;

protected:
    [[nodiscard]] goro::detail::fd_state* state() const noexcept { return m_state.get(); }
    std::shared_ptr<goro::detail::fd_state> m_state;
};

namespace detail {

/// co_await stream.read(buf) / write(buf): one recv / send.
struct stream_io : goro::detail::io_awaiter {
    stream_io(goro::detail::fd_state* f, void* data, std::size_t size, bool is_write) noexcept {
        file = f ? f : goro::detail::closed_fd_state();  // an empty handle behaves as a closed one
        buf = data;
        len = size;
        dir = is_write ? goro::detail::io_dir::write : goro::detail::io_dir::read;
        op = is_write ? goro::detail::io_kind::send : goro::detail::io_kind::recv;        reason = is_write ? "IO wait (write)" : "IO wait (read)";
    }
};

/// stream_io bound to a goro::context.
using ctx_stream_io = goro::detail::ctx_io<stream_io>;

}  // namespace detail

/// A connected byte stream (TCP or Unix): Go's net.Conn.
class stream_socket : public socket_handle {
public:
    using socket_handle::socket_handle;

    /// Reads what is available, at most buffer.size() bytes; 0 at EOF.
    [[nodiscard]] detail::stream_io read(void* data, std::size_t size) const noexcept {
        return {state(), data, size, false};
    }
    [[nodiscard]] detail::stream_io read(std::span<char> b) const noexcept { return read(b.data(), b.size()); }
    [[nodiscard]] detail::stream_io read(std::span<std::byte> b) const noexcept { return read(b.data(), b.size()); }
    /// read() that ctx cancels (see the file comment): ctx.err() once it is done.
    [[nodiscard]] detail::ctx_stream_io read(void* data, std::size_t size, const context& ctx) const noexcept {
        return detail::ctx_stream_io(ctx, state(), data, size, false);
    }
    [[nodiscard]] detail::ctx_stream_io read(std::span<char> b, const context& ctx) const noexcept {
        return read(b.data(), b.size(), ctx);
    }
    [[nodiscard]] detail::ctx_stream_io read(std::span<std::byte> b, const context& ctx) const noexcept {
        return read(b.data(), b.size(), ctx);
    }

    /// One send: writes at most size bytes, returns how many (see write_all).
    [[nodiscard]] detail::stream_io write(const void* data, std::size_t size) const noexcept {
        return {state(), const_cast<void*>(data), size, true};
    }
    [[nodiscard]] detail::stream_io write(std::string_view s) const noexcept { return write(s.data(), s.size()); }
    [[nodiscard]] detail::stream_io write(std::span<const std::byte> b) const noexcept {
        return write(b.data(), b.size());
    }
    /// write() that ctx cancels: ctx.err() once it is done (then nothing of
    /// this call was sent; a send that completes first returns its count).
    [[nodiscard]] detail::ctx_stream_io write(const void* data, std::size_t size, const context& ctx) const noexcept {
        return detail::ctx_stream_io(ctx, state(), const_cast<void*>(data), size, true);
    }
    [[nodiscard]] detail::ctx_stream_io write(std::string_view s, const context& ctx) const noexcept {
        return write(s.data(), s.size(), ctx);
    }
    [[nodiscard]] detail::ctx_stream_io write(std::span<const std::byte> b, const context& ctx) const noexcept {
        return write(b.data(), b.size(), ctx);
    }

    /// Reads exactly size bytes: io_errc::eof if the stream ended first with
    /// nothing read, io_errc::unexpected_eof if it ended part-way.
    [[nodiscard]] task<result<void>> read_exact(void* data, std::size_t size) const;
    [[nodiscard]] GORO_CORO_WRAPPER task<result<void>> read_exact(std::span<char> b) const { return read_exact(b.data(), b.size()); }
    /// read_exact() that ctx cancels: ctx.err() once it is done, whatever
    /// part of the buffer was filled by then.
    [[nodiscard]] task<result<void>> read_exact(void* data, std::size_t size, context ctx) const;
    [[nodiscard]] GORO_CORO_WRAPPER task<result<void>> read_exact(std::span<char> b, context ctx) const {
        return read_exact(b.data(), b.size(), std::move(ctx));
    }

    /// Writes all of size bytes (looping over short sends), or the first error.
    [[nodiscard]] task<result<void>> write_all(const void* data, std::size_t size) const;
    [[nodiscard]] GORO_CORO_WRAPPER task<result<void>> write_all(std::string_view s) const { return write_all(s.data(), s.size()); }
    /// write_all() that ctx cancels: ctx.err() once it is done (a prefix of
    /// the data may have been sent).
    [[nodiscard]] task<result<void>> write_all(const void* data, std::size_t size, context ctx) const;
    [[nodiscard]] GORO_CORO_WRAPPER task<result<void>> write_all(std::string_view s, context ctx) const {
        return write_all(s.data(), s.size(), std::move(ctx));
    }

    /// shutdown(2): SHUT_WR sends FIN (the peer reads EOF) and keeps reading
    /// possible: a half-closed connection, as Go's CloseWrite.
    result<void> shutdown(int how = SHUT_WR) const noexcept;
    result<void> close_write() const noexcept { return shutdown(SHUT_WR); }
    result<void> close_read() const noexcept { return shutdown(SHUT_RD); }

    /// getpeername.
    [[nodiscard]] result<address> peer_address() const;
};

namespace detail {

/// co_await listener.accept(): yields result<Stream>.
template <typename Stream>
struct accept_io : goro::detail::io_awaiter {
    sockaddr_storage peer{};
    explicit accept_io(goro::detail::fd_state* f) noexcept {
        file = f ? f : goro::detail::closed_fd_state();
        buf = &peer;
        len = sizeof peer;
        dir = goro::detail::io_dir::read;
        op = goro::detail::io_kind::accept;
        reason = "IO wait (accept)";
    }
    result<Stream> await_resume() const {
        if (res < 0) return goro::detail::io_error(res);
        return Stream(res);
    }
};

/// Opens a socket (SOCK_CLOEXEC) or returns the errno code.
result<int> open_socket(int family, int type, int protocol = 0) noexcept;

/// A connect request with its own timeout.
struct connect_io : goro::detail::io_awaiter {
    connect_io(goro::detail::fd_state* f, const address& a, std::int64_t deadline) noexcept {
        file = f;
        addr = a.data();
        addr_len = a.size();
        own_deadline = deadline;
        dir = goro::detail::io_dir::write;
        op = goro::detail::io_kind::connect;
        reason = "IO wait (connect)";
    }
};

}  // namespace detail

/// Options for listeners.
struct listen_options {
    /// SO_REUSEPORT: several listeners (or processes) share the address and
    /// the kernel spreads connections among them.
    bool reuse_port = false;
    /// The accept queue length (capped by net.core.somaxconn).
    int backlog = 4096;
};

}  // namespace goro::net
