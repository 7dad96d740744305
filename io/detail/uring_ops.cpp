// The io_uring driver's half of the request machinery (io/detail/io_op.hpp
// describes the design): how a request becomes SQEs, how its CQE and those of
// its cancellations come back, and the non-blocking fast path tried before
// anything is submitted.
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/utsname.h>

#include <cerrno>
#include <cstdio>
#include <mutex>

#include "../../runtime/detail/invariant.hpp"
#include "../../runtime/detail/timer_heap.hpp"
#include "io_op.hpp"
#include "poller.hpp"

namespace goro::detail {
namespace {

// Consecutive fast-path completions on this thread (see "Fast path" in
// io_op.hpp): every 64th goes through the ring, which suspends the task.
[[gnu::noinline]] bool fast_path_allowed() noexcept {
    // initial-exec: no __tls_get_addr call planned for in this -fPIC
    // library (runtime/detail/frame_allocator.cpp's t_frames says more).
    [[gnu::tls_model("initial-exec")]] thread_local unsigned streak = 0;
    return (++streak & 63u) != 0;
}

// The kinds whose fast path is the same call made non-blocking.
bool has_fast_path(io_kind k) noexcept {
    return k == io_kind::recv || k == io_kind::send || k == io_kind::recvmsg || k == io_kind::sendmsg;
}

// The kernel reports, in a TCP socket read's completion, whether the
// receive queue still holds data (IORING_CQE_F_SOCK_NONEMPTY, Linux 5.19;
// trusted from 6.1 on, the first long-term kernel after it). Before it,
// nothing changes: a full ring read makes the next read try first.
bool kernel_reports_recv_queue() noexcept {
    static const bool yes = [] {
        utsname u{};
        if (::uname(&u) != 0) return false;
        unsigned major = 0, minor = 0;
        if (std::sscanf(u.release, "%u.%u", &major, &minor) != 2) return false;
        return major > 6 || (major == 6 && minor >= 1);
    }();
    return yes;
}

// A ring read of `req` on `f` completed with `res` and the CQE's `flags`
// (caller holds f.lock, after settle_request): when it filled its buffer
// and the kernel says the queue is now empty, the next read skips its
// attempt (see "Fast path" in io_op.hpp).
void note_queue_left(const io_request& req, fd_state& f, int res, unsigned flags) noexcept {
    if (req.op != io_kind::recv || res <= 0 || static_cast<std::size_t>(res) != req.len) return;
    if ((flags & IORING_CQE_F_SOCK_NONEMPTY) != 0 || !kernel_reports_recv_queue()) return;
    if (f.tcp < 0 && f.fd >= 0) {
        // Once per file: only TCP reports the queue (other sockets never set
        // the flag, which would read as "empty" every time).
        int protocol = 0;
        socklen_t len = sizeof protocol;
        if (::getsockopt(f.fd, SOL_SOCKET, SO_PROTOCOL, &protocol, &len) == 0) f.tcp = protocol == IPPROTO_TCP ? 1 : 0;
    }
    if (f.tcp == 1) f.read_would_block = true;
}

void prep(io_request& r, io_uring_sqe* sqe) noexcept {
    if (r.poll_first) {
        // Moved by a hand-off (poller.hpp, "Hand-off"): wait for readiness
        // with a poll of our own (not exclusive), then see io_complete.
        io_uring_prep_poll_add(sqe, r.fd, r.op == io_kind::accept ? POLLIN : POLLOUT);
        return;
    }
    switch (r.op) {
        case io_kind::recv: io_uring_prep_recv(sqe, r.fd, r.buf, r.len, r.flags); return;
        case io_kind::send:
            // MSG_NOSIGNAL: a peer that went away gives EPIPE, never SIGPIPE.
            io_uring_prep_send(sqe, r.fd, r.buf, r.len, r.flags | MSG_NOSIGNAL);
            return;
        case io_kind::read: io_uring_prep_read(sqe, r.fd, r.buf, static_cast<unsigned>(r.len), r.offset); return;
        case io_kind::write: io_uring_prep_write(sqe, r.fd, r.buf, static_cast<unsigned>(r.len), r.offset); return;
        case io_kind::accept:
            r.addr_len = static_cast<socklen_t>(r.len);
            io_uring_prep_accept(sqe, r.fd, static_cast<sockaddr*>(r.buf), &r.addr_len, SOCK_CLOEXEC);
            return;
        case io_kind::connect:
            io_uring_prep_connect(sqe, r.fd, static_cast<const sockaddr*>(r.addr), r.addr_len);
            return;
        case io_kind::recvmsg:
            io_uring_prep_recvmsg(sqe, r.fd, fill_msghdr(r, static_cast<socklen_t>(r.mode)),
                                  static_cast<unsigned>(r.flags));
            return;
        case io_kind::sendmsg:
            io_uring_prep_sendmsg(sqe, r.fd, fill_msghdr(r, r.addr_len), static_cast<unsigned>(r.flags) | MSG_NOSIGNAL);
            return;
        case io_kind::openat:
        case io_kind::openat_in_worker:
            io_uring_prep_openat(sqe, AT_FDCWD, static_cast<const char*>(r.addr), r.flags | O_CLOEXEC, r.mode);
            // in_worker: straight to a kernel worker, which opens as open(2)
            // does (a FIFO waits for its other end); a context or shutdown
            // can still cancel it there.
            if (r.op == io_kind::openat_in_worker) io_uring_sqe_set_flags(sqe, IOSQE_ASYNC);
            return;
        case io_kind::fsync: io_uring_prep_fsync(sqe, r.fd, static_cast<unsigned>(r.flags)); return;
    }
}

// A request moved by a hand-off waited for readiness first (prep): its
// poll completed with `res` (a mask, or an error). A connect's outcome is the
// socket's pending error; an accept reports an interruption, which
// settle_request turns into a restart as an accept proper (or into closed,
// timeout or the context's error, whichever holds now).
int after_poll_first(io_request& req, int res) noexcept {
    req.poll_first = false;
    if (res < 0) return res;
    if (req.op != io_kind::accept) {
        int err = 0;
        socklen_t len = sizeof err;
        if (::getsockopt(req.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
        return -err;
    }
    return -ECANCELED;
}

// The CQE of a request.
void io_complete(io_operation* op, int res, unsigned flags) noexcept {
    auto* req = static_cast<io_request*>(op);
    static_cast<poller*>(req->driver)->unlink_request(*req);
    const bool polled = req->poll_first;  // res is a readiness mask, not a read's count
    if (polled) res = after_poll_first(*req, res);
    if (fd_state* f = req->file) {
        int fd_to_close = -1;
        settle_outcome outcome;
        {
            std::lock_guard guard(f->lock);
            outcome = settle_request(*req, res, fd_to_close);
            if (!polled) note_queue_left(*req, *f, res, flags);
        }
        if (fd_to_close >= 0) ::close(fd_to_close);
        if (outcome != settle_outcome::ready) return;
    } else {
        req->res = settle_fileless(*req, res);
    }
    // Do not touch *req after this: the task may run (and be stolen) at once.
    ready_local(req->g);
}

}  // namespace

bool cancel_wanted(const io_request& req) noexcept {
    return req.file->closed || req.ctx_res != 0 || effective_deadline(req) != req.armed_deadline;
}

namespace {

// The completion of an ASYNC_CANCEL made from req.cancel_node (see "Cancelling
// reliably" in io_op.hpp). Runs on the owner thread of req.driver.
void cancel_complete(io_operation* op, int res, unsigned) noexcept {
    auto* node = static_cast<request_cancel*>(op);
    io_request* req = node->owner;
    --node->in_flight;
    if (req->awaiting_cancels) {  // the request completed before this cancellation did
        if (node->in_flight == 0) {
            req->awaiting_cancels = false;
            // Do not touch *req after this (see io_complete).
            ready_local(req->g);
        }
        return;
    }
    if (res != -ENOENT) return;  // cancelled (0), or interrupted in a worker (-EALREADY): it will complete
    // Not found, yet not completed (its completion would have set
    // awaiting_cancels: this cancellation was still counted): the request was
    // between two states. Ask again while the reason holds. Only requests on
    // a file are ever cancelled individually.
    std::lock_guard guard(req->file->lock);
    // Through cancel(): after a hand-off the request may be left on an
    // orphan ring that this thread does not drive (poller.hpp).
    if (req->submitted && cancel_wanted(*req)) req->driver->cancel(*req);
}

}  // namespace

// Prepares the request (and its linked timeout) on this ring. Caller holds
// file->lock when there is a file.
void poller::restart(io_request& req, std::int64_t deadline) noexcept {
    if (req.file) req.fd = req.file->fd;
    req.driver = this;
    req.armed_deadline = deadline;
    link_request(req);
    reserve(deadline != 0 ? 2 : 1);
    io_uring_sqe* sqe = get_sqe();
    prep(req, sqe);
    io_uring_sqe_set_data(sqe, static_cast<io_operation*>(&req));
    if (deadline != 0) {
        sqe->flags |= IOSQE_IO_LINK;
        req.timeout_spec[0] = deadline / 1'000'000'000;
        req.timeout_spec[1] = deadline % 1'000'000'000;
        io_uring_sqe* t = get_sqe();
        // The kernel copies the timespec when it consumes the SQE (at the
        // next submit); the request record outlives that.
        io_uring_prep_link_timeout(t, reinterpret_cast<__kernel_timespec*>(req.timeout_spec), IORING_TIMEOUT_ABS);
        io_uring_sqe_set_data64(t, k_ignored_user_data);
    }
    note_submitted();
}

start_outcome poller::start(io_request& req, std::int64_t deadline) noexcept {
    req.complete = &io_complete;
    req.poll_first = false;
    req.cancel_node.target = reinterpret_cast<std::uintptr_t>(static_cast<io_operation*>(&req));
    req.cancel_node.complete = &cancel_complete;
    if (fd_state* f = req.file; f && has_fast_path(req.op)) {
        const bool is_read = req.dir == io_dir::read;
        if (!(is_read && f->read_would_block) && fast_path_allowed()) {
            req.fd = f->fd;
            const int r = try_nonblocking(req);
            if (r != k_res_would_block) {
                req.res = r;
                return start_outcome::done;
            }
            if (is_read) f->read_would_block = true;
        }
    }
    restart(req, deadline);
    return start_outcome::in_flight;
}

// Asks this ring to cancel `req`: directly when it is the calling thread's
// ring, through the mailbox otherwise. Caller holds req.file->lock (which
// keeps the request in flight, hence its cancel node valid, until the call
// returns).
void poller::cancel(io_request& req) noexcept {
    // Held while it cancels locally: the processor (and this ring) cannot be
    // handed to another thread meanwhile.
    const netpoll_scope scope;
    if (scope.driver() == this)
        cancel_local(&req.cancel_node);
    else
        post_cancel(&req.cancel_node);
}

void poller::withdraw(io_request& req) noexcept { withdraw_cancel(&req.cancel_node); }

}  // namespace goro::detail
