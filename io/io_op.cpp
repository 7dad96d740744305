// The io_uring request machinery shared by goro::net and goro::fs; the design
// is described in io/detail/io_op.hpp.
#include "detail/io_op.hpp"

#include <fcntl.h>
#include <liburing.h>
#include <unistd.h>

#include <cerrno>
#include <string_view>

#include "../runtime/context.hpp"
#include "../runtime/detail/goroutine.hpp"
#include "../runtime/detail/invariant.hpp"
#include "../runtime/detail/netpoll.hpp"
#include "../runtime/detail/timer_heap.hpp"
#include "../runtime/error.hpp"
#include "net_error.hpp"

namespace goro {

namespace {

struct io_category_impl final : std::error_category {
    const char* name() const noexcept override { return "goro.io"; }
    std::string message(int c) const override {
        switch (static_cast<io_errc>(c)) {
            case io_errc::eof: return "EOF";
            case io_errc::unexpected_eof: return "unexpected EOF";
        }
        return "unknown goro.io error";
    }
};
}  // namespace

const std::error_category& io_category() noexcept {
    static const io_category_impl instance;
    return instance;
}

}  // namespace goro

namespace goro::detail {
namespace {

// The io_uring of the processor running on this thread, or null: the
// scheduler's netpoll (runtime/detail/netpoll.hpp) is this driver.
poller* current_ring() noexcept {
    netpoll_driver* n = current_netpoll();
    GORO_ASSERT(!n || std::string_view(n->name()) == "io_uring");
    return static_cast<poller*>(n);
}


// The deadline a request on `file` runs under now: the earlier of the file's
// deadline for its direction and the request's own timeout (0 = none).
// Caller holds file->lock (or file is null).
std::int64_t effective_deadline(const io_request& req) noexcept {
    std::int64_t d = 0;
    if (req.file) {
        if (req.dir == io_dir::read) d = req.file->read_deadline;
        if (req.dir == io_dir::write) d = req.file->write_deadline;
    }
    if (req.own_deadline != 0 && (d == 0 || req.own_deadline < d)) d = req.own_deadline;
    return d;
}

// Prepares the request (and its linked timeout) on `ring`, the calling
// thread's own ring. Caller holds file->lock when there is a file.
void submit(io_request& req, poller* ring, std::int64_t deadline) noexcept {
    if (req.file) req.fd = req.file->fd;
    req.ring = ring;
    req.armed_deadline = deadline;
    ring->reserve(deadline != 0 ? 2 : 1);
    io_uring_sqe* sqe = ring->get_sqe();
    req.prep(&req, sqe);
    io_uring_sqe_set_data(sqe, static_cast<io_operation*>(&req));
    if (deadline != 0) {
        sqe->flags |= IOSQE_IO_LINK;
        req.timeout_spec[0] = deadline / 1'000'000'000;
        req.timeout_spec[1] = deadline % 1'000'000'000;
        io_uring_sqe* t = ring->get_sqe();
        // The kernel copies the timespec when it consumes the SQE (at the
        // next submit); the request record outlives that.
        io_uring_prep_link_timeout(t, reinterpret_cast<__kernel_timespec*>(req.timeout_spec), IORING_TIMEOUT_ABS);
        io_uring_sqe_set_data64(t, k_ignored_user_data);
    }
    ring->note_submitted();
}

// Asks the ring holding `req` to cancel it: directly when that ring is ours,
// through its mailbox otherwise. Caller holds req.file->lock (which keeps the
// request in flight, hence its cancel node valid, until the call returns).
void cancel(io_request& req) noexcept {
    poller* mine = current_ring();
    if (req.ring == mine)
        mine->cancel_local(&req.cancel_node);
    else
        req.ring->post_cancel(&req.cancel_node);
}

void unlink_pending(fd_state& f, io_request& req) noexcept {
    if (req.prev)
        req.prev->next = req.next;
    else
        f.pending = req.next;
    if (req.next) req.next->prev = req.prev;
    req.prev = req.next = nullptr;
}

// Consecutive fast-path completions on this thread (see "Fast path").
[[gnu::noinline]] bool fast_path_allowed() noexcept {
    thread_local unsigned streak = 0;
    return (++streak & 63u) != 0;
}

bool stopping() noexcept { return runtime_stopping(); }

// A request that a cancel (or a signal) stopped. Besides ECANCELED and EINTR,
// a request cancelled while a kernel worker was blocked in it (an open
// waiting on a FIFO) completes with the kernel's internal restart codes
// (ERESTARTSYS 512, ERESTARTNOINTR 513, ERESTARTNOHAND 514,
// ERESTART_RESTARTBLOCK 516), which must never reach the user as such.
bool interrupted(int res) noexcept {
    return res == -ECANCELED || res == -EINTR || res == -512 || res == -513 || res == -514 || res == -516;
}

void io_complete(io_operation* op, int res, unsigned) noexcept {
    auto* req = static_cast<io_request*>(op);
    if (fd_state* f = req->file) {
        int fd_to_close = -1;
        {
            std::lock_guard guard(f->lock);
            // The node may still sit in our mailbox (a cancellation posted
            // after the request completed): take it out before the frame that
            // holds it can be reused.
            req->ring->withdraw_cancel(&req->cancel_node);
            if (interrupted(res)) {
                const std::int64_t deadline = effective_deadline(*req);
                if (f->closed) {
                    res = k_res_closed;
                } else if (req->ctx_res != 0) {
                    res = req->ctx_res;  // cancelled by its context (cancel_for_context)
                } else if (deadline != 0 && monotonic_now_ns() >= deadline) {
                    res = k_res_timeout;
                } else if (req->armed_deadline != 0 && req->armed_deadline == req->own_deadline &&
                           monotonic_now_ns() >= req->armed_deadline) {
                    res = k_res_timeout;
                } else if (!stopping() && req->prep != &prep_connect) {
                    // Cancelled because a deadline moved (or spuriously): run
                    // it again under the deadline in force now. It stays in
                    // the pending list and in flight; reap() counted this CQE
                    // out of in_flight and submit() counts it back in.
                    submit(*req, req->ring, deadline);
                    return;
                }
            }
            if (req->dir == io_dir::read && res > 0 && static_cast<std::size_t>(res) == req->len)
                f->read_would_block = false;  // a full buffer: more may be waiting
            unlink_pending(*f, *req);
            req->submitted = false;
            if (--f->inflight == 0 && f->closed && f->fd >= 0) fd_to_close = std::exchange(f->fd, -1);
        }
        if (fd_to_close >= 0) ::close(fd_to_close);
    } else if (interrupted(res)) {
        const bool timed_out = req->own_deadline != 0 && monotonic_now_ns() >= req->own_deadline;
        res = timed_out ? k_res_timeout : -ECANCELED;
    }
    req->res = res;
    // ASYNC_CANCELs aimed at this request are still in flight: their
    // completions point into it, so the task (and the frame holding the
    // request) waits for them; the last one readies it (cancel_complete).
    // Owner thread: cancel_local and both completions run here.
    if (req->cancel_node.in_flight != 0) {
        req->awaiting_cancels = true;
        return;
    }
    // Do not touch *req after this: the task may run (and be stolen) at once.
    ready_local(req->g);
}

// The cancellation of a request on `file` is still wanted: the file was
// closed, the request's context is done, or its deadline moved since it was
// armed. Caller holds req.file->lock.
bool cancel_wanted(const io_request& req) noexcept {
    return req.file->closed || req.ctx_res != 0 || effective_deadline(req) != req.armed_deadline;
}

// The completion of an ASYNC_CANCEL made from req.cancel_node (see "Cancelling
// reliably"). Runs on the owner thread of req.ring.
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
    if (req->submitted && cancel_wanted(*req)) req->ring->cancel_local(&req->cancel_node);
}

}  // namespace

bool io_start(io_request& req, std::coroutine_handle<> h, const char* reason) {
    goroutine* self = current_goroutine();
    poller* ring = current_ring();
    if (!self || !ring) throw no_runtime("goro I/O");
    req.g = self;
    req.complete = &io_complete;
    req.cancel_node.target = reinterpret_cast<std::uintptr_t>(static_cast<io_operation*>(&req));
    req.cancel_node.complete = &cancel_complete;
    req.cancel_node.owner = &req;
    self->resume_point = h;
    self->wait_reason.store(reason, std::memory_order_relaxed);
    if (fd_state* f = req.file) {
        std::lock_guard guard(f->lock);
        if (f->closed) {
            req.res = k_res_closed;
            return false;
        }
        if (req.ctx_res != 0) {  // its context was cancelled before the request got here
            req.res = req.ctx_res;
            return false;
        }
        const std::int64_t deadline = effective_deadline(req);
        if (deadline != 0 && monotonic_now_ns() >= deadline) {
            req.res = k_res_timeout;
            return false;
        }
        const bool is_read = req.dir == io_dir::read;
        if (req.attempt && !(is_read && f->read_would_block) && fast_path_allowed()) {
            req.fd = f->fd;
            const int r = req.attempt(&req);
            if (r != -EAGAIN) {
                req.res = r;
                return false;
            }
            if (is_read) f->read_would_block = true;
        }
        req.prev = nullptr;
        req.next = f->pending;
        if (f->pending) f->pending->prev = &req;
        f->pending = &req;
        ++f->inflight;
        req.submitted = true;
        submit(req, ring, deadline);
        return true;
    }
    if (req.own_deadline != 0 && monotonic_now_ns() >= req.own_deadline) {
        req.res = k_res_timeout;
        return false;
    }
    submit(req, ring, req.own_deadline);
    return true;
}

std::error_code io_error(int res) noexcept {
    if (res == k_res_closed) return make_error_code(net::errc::closed);
    if (res == k_res_timeout) return make_error_code(net::errc::timeout);
    if (res == k_res_ctx_canceled) return make_error_code(context_errc::canceled);
    if (res == k_res_ctx_deadline) return make_error_code(context_errc::deadline_exceeded);
    return {-res, std::system_category()};
}

void cancel_for_context(io_request& req, int code) noexcept {
    fd_state* f = req.file;
    std::lock_guard guard(f->lock);
    if (req.ctx_res != 0) return;  // a context is cancelled once
    req.ctx_res = code;
    // In flight: the completion (-ECANCELED, or the real result if the
    // operation finished first) reports ctx_res. Not yet started: io_start
    // sees ctx_res. Completed: nothing reads ctx_res any more.
    if (req.submitted) cancel(req);
}

fd_state* closed_fd_state() noexcept {
    static fd_state* const instance = [] {
        static fd_state f{-1};
        f.closed = true;
        return &f;
    }();
    return instance;
}

fd_state::~fd_state() {
    if (fd >= 0) ::close(fd);
}

result<void> fd_state::close() noexcept {
    int fd_to_close = -1;
    {
        std::lock_guard guard(lock);
        if (closed) return make_error_code(net::errc::closed);
        closed = true;
        for (io_request* r = pending; r; r = r->next) cancel(*r);
        if (inflight == 0 && fd >= 0) fd_to_close = std::exchange(fd, -1);
    }
    if (fd_to_close >= 0 && ::close(fd_to_close) != 0 && errno != EINTR)
        return std::error_code(errno, std::system_category());
    return {};
}

void fd_state::set_deadline(bool read, bool write, std::int64_t when_ns) noexcept {
    std::lock_guard guard(lock);
    if (read) read_deadline = when_ns;
    if (write) write_deadline = when_ns;
    if (closed) return;
    for (io_request* r = pending; r; r = r->next) {
        if ((r->dir == io_dir::read && read) || (r->dir == io_dir::write && write)) {
            if (effective_deadline(*r) != r->armed_deadline) cancel(*r);
        }
    }
}

// ---- fast paths ----

namespace {

// A non-blocking system call's outcome as a ring result: the count, -EAGAIN
// when it would block (EWOULDBLOCK is the same value on Linux, but say so),
// or -errno.
int nonblocking_result(ssize_t n) noexcept {
    if (n >= 0) return static_cast<int>(n);
    return errno == EWOULDBLOCK ? -EAGAIN : -errno;
}

// Points the request's msghdr at its one buffer and at `name` (the peer
// address: recvmsg's room for the sender, sendmsg's destination). The msghdr
// lives in the request, so the kernel may read it until the completion.
msghdr* fill_msghdr(io_request* r, socklen_t name_len) noexcept {
    r->iov.iov_base = r->buf;
    r->iov.iov_len = r->len;
    r->msg = msghdr{};
    r->msg.msg_iov = &r->iov;
    r->msg.msg_iovlen = 1;
    r->msg.msg_name = const_cast<void*>(r->addr);
    r->msg.msg_namelen = name_len;
    return &r->msg;
}

// recvmsg's room for the sender is `mode` (address::capacity()); sendmsg's
// destination length is addr_len.
socklen_t recv_name_len(const io_request* r) noexcept { return static_cast<socklen_t>(r->mode); }

}  // namespace

int attempt_recv(io_request* r) noexcept {
    return nonblocking_result(::recv(r->fd, r->buf, r->len, r->flags | MSG_DONTWAIT));
}
int attempt_send(io_request* r) noexcept {
    return nonblocking_result(::send(r->fd, r->buf, r->len, r->flags | MSG_DONTWAIT | MSG_NOSIGNAL));
}
int attempt_recvmsg(io_request* r) noexcept {
    return nonblocking_result(::recvmsg(r->fd, fill_msghdr(r, recv_name_len(r)), r->flags | MSG_DONTWAIT));
}
int attempt_sendmsg(io_request* r) noexcept {
    return nonblocking_result(
        ::sendmsg(r->fd, fill_msghdr(r, r->addr_len), r->flags | MSG_DONTWAIT | MSG_NOSIGNAL));
}

// ---- prep functions ----

void prep_recv(io_request* r, io_uring_sqe* sqe) noexcept { io_uring_prep_recv(sqe, r->fd, r->buf, r->len, r->flags); }
void prep_send(io_request* r, io_uring_sqe* sqe) noexcept {
    // MSG_NOSIGNAL: a peer that went away gives EPIPE, never SIGPIPE.
    io_uring_prep_send(sqe, r->fd, r->buf, r->len, r->flags | MSG_NOSIGNAL);
}
void prep_read(io_request* r, io_uring_sqe* sqe) noexcept {
    io_uring_prep_read(sqe, r->fd, r->buf, static_cast<unsigned>(r->len), r->offset);
}
void prep_write(io_request* r, io_uring_sqe* sqe) noexcept {
    io_uring_prep_write(sqe, r->fd, r->buf, static_cast<unsigned>(r->len), r->offset);
}
void prep_accept(io_request* r, io_uring_sqe* sqe) noexcept {
    r->addr_len = static_cast<socklen_t>(r->len);
    io_uring_prep_accept(sqe, r->fd, static_cast<sockaddr*>(r->buf), &r->addr_len, SOCK_CLOEXEC);
}
void prep_connect(io_request* r, io_uring_sqe* sqe) noexcept {
    io_uring_prep_connect(sqe, r->fd, static_cast<const sockaddr*>(r->addr), r->addr_len);
}
void prep_recvmsg(io_request* r, io_uring_sqe* sqe) noexcept {
    io_uring_prep_recvmsg(sqe, r->fd, fill_msghdr(r, recv_name_len(r)), static_cast<unsigned>(r->flags));
}
void prep_sendmsg(io_request* r, io_uring_sqe* sqe) noexcept {
    io_uring_prep_sendmsg(sqe, r->fd, fill_msghdr(r, r->addr_len), static_cast<unsigned>(r->flags) | MSG_NOSIGNAL);
}
void prep_openat(io_request* r, io_uring_sqe* sqe) noexcept {
    io_uring_prep_openat(sqe, AT_FDCWD, static_cast<const char*>(r->addr), r->flags | O_CLOEXEC, r->mode);
}
void prep_openat_in_worker(io_request* r, io_uring_sqe* sqe) noexcept {
    prep_openat(r, sqe);
    // Straight to a kernel worker, which opens as open(2) does (a FIFO waits
    // for its other end); a context or shutdown can still cancel it there.
    io_uring_sqe_set_flags(sqe, IOSQE_ASYNC);
}
void prep_fsync(io_request* r, io_uring_sqe* sqe) noexcept {
    io_uring_prep_fsync(sqe, r->fd, static_cast<unsigned>(r->flags));
}

}  // namespace goro::detail
