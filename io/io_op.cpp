// The request machinery shared by goro::net and goro::fs, whatever the
// driver; the design is described in io/detail/io_op.hpp. The io_uring
// driver's half is io/detail/uring_ops.cpp, the epoll driver's
// io/detail/epoll_driver.cpp.
#include "detail/io_op.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <coroutine>
#include <exception>
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

void unlink_pending(fd_state& f, io_request& req) noexcept {
    if (req.prev)
        req.prev->next = req.next;
    else
        f.pending = req.next;
    if (req.next) req.next->prev = req.prev;
    req.prev = req.next = nullptr;
}

void link_pending(fd_state& f, io_request& req) noexcept {
    req.prev = nullptr;
    req.next = f.pending;
    if (f.pending) f.pending->prev = &req;
    f.pending = &req;
}

// A request that a cancel (or a signal) stopped. Besides ECANCELED and EINTR,
// a request cancelled while a kernel worker was blocked in it (an open
// waiting on a FIFO) completes with the kernel's internal restart codes
// (ERESTARTSYS 512, ERESTARTNOINTR 513, ERESTARTNOHAND 514,
// ERESTART_RESTARTBLOCK 516), which must never reach the user as such.
bool interrupted(int res) noexcept {
    return res == -ECANCELED || res == -EINTR || res == -512 || res == -513 || res == -514 || res == -516;
}

}  // namespace

std::int64_t effective_deadline(const io_request& req) noexcept {
    std::int64_t d = 0;
    if (req.file) {
        if (req.dir == io_dir::read) d = req.file->read_deadline;
        if (req.dir == io_dir::write) d = req.file->write_deadline;
    }
    if (req.own_deadline != 0 && (d == 0 || req.own_deadline < d)) d = req.own_deadline;
    return d;
}

int take_descriptor(fd_state& f) noexcept {
    const int fd = std::exchange(f.fd, -1);
    if (file_registration* r = std::exchange(f.registration, nullptr)) r->release(fd);
    return fd;
}

settle_outcome settle_request(io_request& req, int res, int& fd_to_close) noexcept {
    fd_state* f = req.file;
    fd_to_close = -1;
    // A cancellation may still be queued for this request (posted after it
    // completed): forget it before the frame holding its node can be reused.
    req.driver->withdraw(req);
    if (interrupted(res)) {
        const std::int64_t deadline = effective_deadline(req);
        if (f->closed) {
            res = k_res_closed;
        } else if (req.ctx_res != 0) {
            res = req.ctx_res;  // cancelled by its context (cancel_for_context)
        } else if (deadline != 0 && monotonic_now_ns() >= deadline) {
            res = k_res_timeout;
        } else if (req.armed_deadline != 0 && req.armed_deadline == req.own_deadline &&
                   monotonic_now_ns() >= req.armed_deadline) {
            res = k_res_timeout;
        } else if (!runtime_stopping() && req.op != io_kind::connect) {
            // Cancelled because a deadline moved (or spuriously): run it
            // again under the deadline in force now. It stays in the pending
            // list and in flight.
            req.driver->restart(req, deadline);
            return settle_outcome::restarted;
        }
    }
    if (req.dir == io_dir::read && res > 0 && static_cast<std::size_t>(res) == req.len)
        f->read_would_block = false;  // a full buffer: more may be waiting
    unlink_pending(*f, req);
    req.submitted = false;
    if (--f->inflight == 0 && f->closed && f->fd >= 0) fd_to_close = take_descriptor(*f);
    req.res = res;
    // io_uring: ASYNC_CANCELs aimed at this request are still in flight;
    // their completions point into it, so the task (and the frame holding the
    // request) waits for them; the last one readies it.
    if (req.cancel_node.in_flight != 0) {
        req.awaiting_cancels = true;
        return settle_outcome::held;
    }
    return settle_outcome::ready;
}

int settle_fileless(const io_request& req, int res) noexcept {
    if (!interrupted(res)) return res;
    const bool timed_out = req.own_deadline != 0 && monotonic_now_ns() >= req.own_deadline;
    return timed_out ? k_res_timeout : -ECANCELED;
}

namespace {

// A task whose processor was handed off (runtime/handoff.cpp) runs on
// without one: it has no netpoll to start an operation on. It parks instead,
// with this trampoline as its resume point, and the processor that runs it
// next starts the operation there: the trampoline's only step is its final
// suspension, which frees its frame and calls io_start again, now on a
// processor, then resumes the task at once (finished) or leaves it waiting
// (in flight). One frame per such start; only a task that lost its
// processor ever makes one.
struct deferred_start {
    struct promise_type {
        io_request* req = nullptr;
        std::coroutine_handle<> task;
        const char* reason = nullptr;

        deferred_start get_return_object() noexcept {
            return {std::coroutine_handle<promise_type>::from_promise(*this)};
        }
        std::suspend_always initial_suspend() noexcept { return {}; }
        struct final_awaiter {
            bool await_ready() const noexcept { return false; }
            std::coroutine_handle<> await_suspend(std::coroutine_handle<promise_type> self) noexcept {
                io_request& r = *self.promise().req;
                const std::coroutine_handle<> task = self.promise().task;
                const char* why = self.promise().reason;
                self.destroy();
                // On a processor now (the scheduler resumed us): io_start
                // throws only without a runtime, which cannot happen here.
                bool waiting = false;
                try {
                    waiting = io_start(r, task, why);
                } catch (...) {
                    std::terminate();
                }
                return waiting ? std::noop_coroutine() : task;
            }
            void await_resume() const noexcept {}
        };
        final_awaiter final_suspend() noexcept { return {}; }
        void return_void() noexcept {}
        void unhandled_exception() noexcept { std::terminate(); }
    };
    std::coroutine_handle<promise_type> handle;
};

deferred_start make_deferred_start() { co_return; }

}  // namespace

bool io_start(io_request& req, std::coroutine_handle<> h, const char* reason) {
    // Held until io_start returns: the driver's owner-only calls below run
    // on a processor the monitor cannot hand off meanwhile.
    const netpoll_scope scope;
    goroutine* self = current_goroutine();
    netpoll_driver* driver = scope.driver();
    if (self && scope.lost()) {
        // Handed off: start it on whichever processor runs the task next.
        deferred_start d = make_deferred_start();
        d.handle.promise().req = &req;
        d.handle.promise().task = h;
        d.handle.promise().reason = reason;
        self->resume_point = d.handle;
        self->wait_reason.store(reason, std::memory_order_relaxed);
        ready_later(self);  // no processor: the global queue
        return true;
    }
    if (!self || !driver) throw no_runtime("goro I/O");
    req.g = self;
    req.cancel_node.owner = &req;
    self->resume_point = h;
    note_waiting(self, reason);
    fd_state* f = req.file;
    if (!f) {
        if (req.own_deadline != 0 && monotonic_now_ns() >= req.own_deadline) {
            req.res = k_res_timeout;
            return false;
        }
        const start_outcome o = driver->start(req, req.own_deadline);
        if (o == start_outcome::in_flight) return true;
        if (o == start_outcome::done) return false;
        ready_later(self);  // done_yield (see below)
        return true;
    }
    start_outcome outcome;
    {
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
        link_pending(*f, req);
        ++f->inflight;
        req.submitted = true;
        outcome = driver->start(req, deadline);
        if (outcome == start_outcome::in_flight) return true;
        // Finished at once (req.res set): it was never in flight. The file is
        // not closed (checked above, under this lock), so nothing to close.
        unlink_pending(*f, req);
        --f->inflight;
        req.submitted = false;
    }
    if (outcome == start_outcome::done) return false;
    // done_yield: the task goes behind the others first. After ready_later
    // the task may run anywhere at once: touch nothing of it any more.
    ready_later(self);
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
    if (req.submitted) req.driver->cancel(req);
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
    if (fd >= 0) ::close(take_descriptor(*this));
}

result<void> fd_state::close() noexcept {
    int fd_to_close = -1;
    {
        std::lock_guard guard(lock);
        if (closed) return make_error_code(net::errc::closed);
        closed = true;
        for (io_request* r = pending; r; r = r->next) r->driver->cancel(*r);
        // The registration goes now, under the lock; the descriptor is
        // closed below, outside it.
        if (inflight == 0 && fd >= 0) fd_to_close = take_descriptor(*this);
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
            if (effective_deadline(*r) != r->armed_deadline) r->driver->cancel(*r);
        }
    }
}

}  // namespace goro::detail
