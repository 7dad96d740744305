// epoll_attempt — one non-blocking attempt at a request, for the epoll
// driver (its start in epoll_start.cpp and its edges in epoll_serve.cpp), and
// what the attempt says about the receive queue: whether it emptied it, so
// that the registration is "drained" (see "Drained" in epoll_driver.hpp).
// Internal to the epoll driver's files.
#pragma once

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "io_op.hpp"

namespace goro::detail {

// A stream read that returned less than it asked for emptied the receive
// queue: until the next edge, another read would find nothing (an end of
// file or an error does not count: no further edge would announce them).
inline bool drains(const io_request& req, int res) noexcept {
    return (req.op == io_kind::recv || req.op == io_kind::read) && res > 0 && static_cast<std::size_t>(res) < req.len;
}

// A stream read on a TCP socket with TCP_INQ on (see "Drained" in
// epoll_driver.hpp): recvmsg, which also reports how many bytes the receive
// queue still holds after it. `emptied` is true when that is none (a read
// that filled its buffer exactly then emptied the queue too). The system
// call is made directly: glibc's recvmsg is a cancellation point, which
// costs two atomic operations around the call, and goro never cancels a
// thread.
inline int recv_reporting_inq(io_request& r, bool& emptied) noexcept {
    iovec iov{r.buf, r.len};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = control;
    m.msg_controllen = sizeof control;
    const long n = ::syscall(SYS_recvmsg, r.fd, &m, r.flags | MSG_DONTWAIT);
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK ? k_res_would_block : -errno;
    if (n > 0) {
        for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
            if (c->cmsg_level == SOL_TCP && c->cmsg_type == TCP_CM_INQ && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
                int left;
                std::memcpy(&left, CMSG_DATA(c), sizeof left);
                emptied = left == 0;  // after a FIN the kernel reports 1: the end of file is still to read
            }
        }
    }
    return static_cast<int>(n);
}

// One attempt at `req` (the caller holds its file's lock). `emptied`: it
// read and left the receive queue empty, so that until the next edge
// another read would find nothing: a short stream read, or a TCP read whose
// queue the kernel reports empty. An end of file or an error does not count:
// no further edge would announce them.
//
// `ask_inq` (a TCP socket whose last read filled its buffer): read with
// recvmsg and TCP_INQ's report, the only way to learn that a read which
// filled its buffer exactly also emptied the queue. A short read says so by
// itself, so a file whose reads come back short keeps the cheaper recv.
inline int attempt(io_request& req, bool ask_inq, bool& emptied) noexcept {
    emptied = false;
    const int res = ask_inq && req.op == io_kind::recv ? recv_reporting_inq(req, emptied) : try_nonblocking(req);
    if (res <= 0)
        emptied = false;
    else if (drains(req, res))
        emptied = true;
    return res;
}

}  // namespace goro::detail
