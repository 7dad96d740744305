// A request as a plain system call: non-blocking (the io_uring driver's fast
// path, and every socket operation of the epoll driver), or blocking (the
// epoll driver's blocking-pool half: regular files and opens).
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "io_op.hpp"

namespace goro::detail {
namespace {

// A non-blocking system call's outcome as a request result: the count,
// k_res_would_block when it would block (EWOULDBLOCK is EAGAIN on Linux, but
// say so), or -errno.
int nonblocking_result(ssize_t n) noexcept {
    if (n >= 0) return static_cast<int>(n);
    return errno == EAGAIN || errno == EWOULDBLOCK ? k_res_would_block : -errno;
}

// The socket calls of the hot path, made directly: glibc's recv, send and
// the others are cancellation points, which costs two atomic operations
// around each call in a multi-threaded program, and goro never cancels a
// thread. Same results and errno as the wrappers.
ssize_t sys_recv(int fd, void* buf, std::size_t len, int flags) noexcept {
    return ::syscall(SYS_recvfrom, fd, buf, len, flags, nullptr, nullptr);
}
ssize_t sys_send(int fd, const void* buf, std::size_t len, int flags) noexcept {
    return ::syscall(SYS_sendto, fd, buf, len, flags, nullptr, 0);
}
ssize_t sys_recvmsg(int fd, msghdr* m, int flags) noexcept { return ::syscall(SYS_recvmsg, fd, m, flags); }
ssize_t sys_sendmsg(int fd, const msghdr* m, int flags) noexcept { return ::syscall(SYS_sendmsg, fd, m, flags); }

int blocking_result(ssize_t n) noexcept { return n >= 0 ? static_cast<int>(n) : -errno; }

// The second half of a non-blocking connect (the socket became writable, or
// a retry wants to know): the pending error, or success once connected.
int finish_connect(int fd) noexcept {
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return -errno;
    if (err != 0) return -err;
    // No error yet: connected, or still in progress (a spurious readiness).
    sockaddr_storage peer{};
    socklen_t peer_len = sizeof peer;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) == 0) return 0;
    return errno == ENOTCONN ? k_res_would_block : -errno;
}

// read/write at the request's offset, or at the cursor (offset k_cursor). A
// file without offsets (a pipe, an eventfd, a socket) ignores the offset, as
// io_uring does: pread's ESPIPE becomes a plain read.
ssize_t file_read(const io_request& r) noexcept {
    if (r.offset != ~std::uint64_t{0}) {
        const ssize_t n = ::pread(r.fd, r.buf, r.len, static_cast<off_t>(r.offset));
        if (n >= 0 || errno != ESPIPE) return n;
    }
    return ::read(r.fd, r.buf, r.len);
}

ssize_t file_write(const io_request& r) noexcept {
    if (r.offset != ~std::uint64_t{0}) {
        const ssize_t n = ::pwrite(r.fd, r.buf, r.len, static_cast<off_t>(r.offset));
        if (n >= 0 || errno != ESPIPE) return n;
    }
    return ::write(r.fd, r.buf, r.len);
}

}  // namespace

msghdr* fill_msghdr(io_request& r, socklen_t name_len) noexcept {
    r.iov.iov_base = r.buf;
    r.iov.iov_len = r.len;
    r.msg = msghdr{};
    r.msg.msg_iov = &r.iov;
    r.msg.msg_iovlen = 1;
    r.msg.msg_name = const_cast<void*>(r.addr);
    r.msg.msg_namelen = name_len;
    return &r.msg;
}

int try_nonblocking(io_request& r) noexcept {
    switch (r.op) {
        case io_kind::recv: return nonblocking_result(sys_recv(r.fd, r.buf, r.len, r.flags | MSG_DONTWAIT));
        case io_kind::send:
            // MSG_NOSIGNAL: a peer that went away gives EPIPE, never SIGPIPE.
            return nonblocking_result(sys_send(r.fd, r.buf, r.len, r.flags | MSG_DONTWAIT | MSG_NOSIGNAL));
        case io_kind::recvmsg:
            // recvmsg's room for the sender is `mode` (address::capacity()).
            return nonblocking_result(
                sys_recvmsg(r.fd, fill_msghdr(r, static_cast<socklen_t>(r.mode)), r.flags | MSG_DONTWAIT));
        case io_kind::sendmsg:
            return nonblocking_result(
                sys_sendmsg(r.fd, fill_msghdr(r, r.addr_len), r.flags | MSG_DONTWAIT | MSG_NOSIGNAL));
        case io_kind::accept: {
            // The new socket is non-blocking from the start: the epoll
            // driver needs it so, and the io_uring driver never makes this call.
            socklen_t len = static_cast<socklen_t>(r.len);
            const int fd = ::accept4(r.fd, static_cast<sockaddr*>(r.buf), &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
            if (fd >= 0) r.addr_len = len;
            return fd >= 0 ? fd : nonblocking_result(-1);
        }
        case io_kind::connect: {
            if (r.connect_started) return finish_connect(r.fd);
            if (::connect(r.fd, static_cast<const sockaddr*>(r.addr), r.addr_len) == 0) return 0;
            const int err = errno;
            if (err == EINPROGRESS || err == EINTR) {  // EINTR: it goes on in the background
                r.connect_started = true;
                return k_res_would_block;
            }
            // EAGAIN here is a Unix socket whose listener's backlog is full:
            // an error, as in Go (no readiness edge announces room).
            return -err;
        }
        case io_kind::read: return nonblocking_result(file_read(r));
        case io_kind::write: return nonblocking_result(file_write(r));
        case io_kind::openat:
        case io_kind::openat_in_worker:
        case io_kind::fsync: return run_blocking(r);
    }
    return -EINVAL;
}

int run_blocking(io_request& r) noexcept {
    switch (r.op) {
        case io_kind::read: return blocking_result(file_read(r));
        case io_kind::write: return blocking_result(file_write(r));
        case io_kind::fsync: return blocking_result(r.flags == 1 ? ::fdatasync(r.fd) : ::fsync(r.fd));
        case io_kind::openat:
        case io_kind::openat_in_worker:
            return blocking_result(::openat(AT_FDCWD, static_cast<const char*>(r.addr), r.flags | O_CLOEXEC, r.mode));
        default: return -EINVAL;  // sockets never block a pool thread
    }
}

}  // namespace goro::detail
