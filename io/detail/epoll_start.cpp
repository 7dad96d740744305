// Starting, restarting and cancelling operations on the epoll driver: an
// operation is tried at once (epoll_attempt.hpp) and waits on its file's
// registration only when it would block (enqueue); regular files and opens
// go to the blocking pool; an operation that finished at once may yield
// through the driver (defer, see "Yielding" in epoll_driver.hpp). The other
// threads' cancellations reach the owner through the mailbox
// (drain_mailbox). Completing a waiting operation is in epoll_serve.cpp.
#include <unistd.h>

#include <cerrno>
#include <mutex>
#include <utility>

#include "../../runtime/blocking.hpp"
#include "../../runtime/detail/timer_heap.hpp"
#include "epoll_attempt.hpp"
#include "epoll_driver.hpp"
#include "epoll_registration.hpp"
#include "io_op.hpp"

namespace goro::detail {
namespace {

// Consecutive instant completions on this thread: every 64th makes its task
// yield, so a task whose operations never wait cannot keep its processor.
// The driver completes that one at its next poll, as if an edge had come
// (see "Yielding" in epoll_driver.hpp; the io_uring driver sends it through
// the ring instead).
[[gnu::noinline]] bool instant_completion_allowed() noexcept {
    // initial-exec: no __tls_get_addr call planned for in this -fPIC
    // library (runtime/detail/frame_allocator.cpp's t_frames says more).
    [[gnu::tls_model("initial-exec")]] thread_local unsigned streak = 0;
    return (++streak & 63u) != 0;
}

void run_pool_request(blocking_job* job) noexcept {
    io_request& req = *static_cast<io_blocking_job*>(job)->request;
    int res;
    do {
        res = run_blocking(req);
    } while (res == -EINTR);
    if (fd_state* f = req.file) {
        int fd_to_close = -1;
        {
            std::lock_guard guard(f->lock);
            // A pool request is never cancelled or restarted: the outcome is
            // `ready` (the pool readies the task after this returns).
            (void)settle_request(req, res, fd_to_close);
        }
        if (fd_to_close >= 0) ::close(fd_to_close);
    } else {
        req.res = settle_fileless(req, res);
    }
}
}  // namespace

start_outcome epoll_driver::start_on_pool(io_request& req) noexcept {
    req.driver = this;
    req.job.request = &req;
    req.job.waiter = req.g;
    req.job.run = &run_pool_request;
    try {
        submit_blocking(&req.job);
    } catch (...) {
        // No pool thread can be had (max_threads reached with none allowed,
        // or the OS refused a thread): the call fails, nothing ran.
        req.job.request = nullptr;
        req.res = -EAGAIN;
        return start_outcome::done;
    }
    return start_outcome::in_flight;
}

start_outcome epoll_driver::start(io_request& req, std::int64_t deadline) noexcept {
    req.job.request = nullptr;
    req.connect_started = false;
    fd_state* f = req.file;
    if (f) req.fd = f->fd;
    if (!f || req.op == io_kind::fsync || req.op == io_kind::openat || req.op == io_kind::openat_in_worker)
        return start_on_pool(req);
    int error = 0;
    // The file's record, whose home is checked under its lock below (a
    // record orphaned by an ended runtime is replaced there).
    auto* reg = static_cast<registration*>(f->registration);
    if (!reg) reg = registration_of(*f, error);
    const int dir = direction_of(req);
    for (;;) {
        if (!reg) {
            if (error != 0) {
                req.res = -error;
                return start_outcome::done;
            }
            return start_on_pool(req);  // a regular file
        }
        bool skip_attempt;
        {
            std::unique_lock guard(reg->lock);
            if (!reg->home) [[unlikely]] {
                // Registered by a runtime that has ended: its epoll is gone.
                guard.unlock();
                reg = replace_orphan(*f, *reg, error);
                continue;
            }
            if (reg->home != this) {
                const bool idle = !reg->head[0] && !reg->head[1];
                if (idle && ++reg->foreign_waits >= k_migrate_after) migrate(*reg, f->fd);
            } else {
                reg->foreign_waits = 0;
            }
            // Request/response traffic: the last attempt found nothing and no
            // edge came since, so this one would find nothing either.
            skip_attempt = reg->drained[dir] && !reg->ready[dir] && !reg->hung_up;
            if (!skip_attempt) {
                reg->ready[dir] = false;  // what the attempt below sees covers every edge so far
                reg->drained[dir] = false;
            }
        }
        if (!skip_attempt) {
            bool emptied;
            const int r = attempt(req, reg->reports_inq && reg->last_read_full, emptied);
            reg->note_read(req, r);
            if (r != k_res_would_block) {
                if (emptied) {
                    std::lock_guard guard(reg->lock);
                    if (!reg->ready[dir] && !reg->hung_up) reg->drained[dir] = true;
                }
                req.res = r;
                // relaxed: only this thread (the owner) sets m_draining. A
                // driver shut down polls no more: nothing to yield to.
                if (instant_completion_allowed() || m_draining.load(std::memory_order_relaxed))
                    return start_outcome::done;
                defer(req);
                return start_outcome::in_flight;
            }
        }
        if (enqueue(*reg, req, dir, deadline)) return start_outcome::in_flight;
        // An edge came between the attempt and the queueing: try again.
        if (req.res != 0) return start_outcome::done;  // the home is shutting down
    }
}

// Holds an operation that finished at once (req.res) until the next poll,
// which completes it like an edge would (see "Yielding"). Owner, with
// req.file->lock held.
void epoll_driver::defer(io_request& req) noexcept {
    GORO_ASSERT(m_owner.is_current());
    req.driver = this;
    req.armed_deadline = 0;  // not in the heap: nothing but the poll completes it
    req.wait_next = nullptr;
    m_in_flight.fetch_add(1, std::memory_order_relaxed);
    if (m_deferred_tail)
        m_deferred_tail->wait_next = &req;
    else
        m_deferred = &req;
    m_deferred_tail = &req;
}

// Completes the operations defer() held, with the results they had. Before
// the mailbox: a cancellation posted for one of them meanwhile must not
// replace a result that already took effect (data read or sent); its
// completion withdraws the cancellation.
unsigned epoll_driver::finish_deferred() noexcept {
    unsigned completed = 0;
    io_request* req = std::exchange(m_deferred, nullptr);
    m_deferred_tail = nullptr;
    while (req) {
        io_request* next = std::exchange(req->wait_next, nullptr);
        completed += finish(*req, req->res);
        req = next;
    }
    return completed;
}

// Queues `req` on its file's registration, unless an edge arrived since the
// last attempt (returns false, req.res == 0: try again) or the home drains
// (returns false, req.res = -ECANCELED). Caller holds req.file->lock.
bool epoll_driver::enqueue(registration& reg, io_request& req, int dir, std::int64_t deadline) noexcept {
    std::lock_guard guard(reg.lock);
    if (reg.ready[dir]) {
        reg.ready[dir] = false;
        req.res = 0;
        return false;
    }
    epoll_driver* home = reg.home;
    // relaxed: ordered by reg.lock against cancel_all_and_drain, which sets
    // the flag before it takes each registration's lock.
    if (home->m_draining.load(std::memory_order_relaxed)) {
        req.res = -ECANCELED;
        return false;
    }
    req.driver = home;
    req.armed_deadline = deadline;
    req.wait_next = nullptr;
    // Counted and in the heap before it is visible to the home's owner,
    // which may complete it as soon as the lock is released.
    home->m_in_flight.fetch_add(1, std::memory_order_relaxed);
    if (deadline != 0) {
        std::lock_guard heap_guard(home->m_lock);
        home->heap_add(req);
    }
    if (reg.tail[dir])
        reg.tail[dir]->wait_next = &req;
    else
        reg.head[dir] = &req;
    reg.tail[dir] = &req;
    reg.drained[dir] = true;  // no edge since the attempt (checked above)
    if (home != this) {
        // Another processor's epoll holds the file. Its owner is woken by the
        // file's edges; a deadline earlier than its current park timeout
        // needs a wake-up so that it recomputes the timeout.
        if (deadline != 0) home->wake();
    }
    return true;
}

void epoll_driver::restart(io_request& req, std::int64_t deadline) noexcept {
    // Only settle_request calls this, for a request interrupted while a
    // deadline moved; this driver never hands such a result to it (a moved
    // deadline is handled in drain_mailbox), but a restart must stay
    // correct: queue the request again under the new deadline.
    auto* reg = static_cast<registration*>(req.file->registration);
    if (!reg || !enqueue(*reg, req, direction_of(req), deadline)) {
        // Cannot happen while the file is open and the driver runs; finish
        // it rather than lose it.
        req.res = -ECANCELED;
    }
}

// ---- cancellation ----

void epoll_driver::cancel(io_request& req) noexcept {
    if (req.job.request) return;  // a blocking-pool call: it ends by itself (see the file comment)
    {
        std::lock_guard guard(m_lock);
        if (!m_mailbox.push(&req.cancel_node)) return;  // already asked; the owner has not drained it yet
        m_mail.store(true, std::memory_order_release);
    }
    if (!m_owner.bound_to_current()) wake();
}

void epoll_driver::withdraw(io_request& req) noexcept {
    // Most completions had no cancellation posted: skip the lock then. Safe
    // to read `queued` without m_lock: settle_request calls this with the
    // file's lock held, every push happens under that lock too (close,
    // set_deadline and cancel_for_context hold it when they call cancel()),
    // and only this driver's owner pops, which is the caller (finish()) or
    // never touched the node (a blocking-pool request is never posted).
    if (!req.cancel_node.queued) return;
    std::lock_guard guard(m_lock);
    m_mailbox.remove(&req.cancel_node);
}

// Cancellations posted for requests waiting here: finish those whose reason
// holds, move those whose deadline moved.
unsigned epoll_driver::drain_mailbox() noexcept {
    unsigned completed = 0;
    for (;;) {
        io_request* req;
        {
            std::lock_guard guard(m_lock);
            remote_cancel* node = m_mailbox.pop();
            if (!node) return completed;
            // The target still waits here: its completion withdraws the node
            // (under m_lock, on this thread), and a node is only posted while
            // its target is in flight.
            req = static_cast<request_cancel*>(node)->owner;
        }
        fd_state& f = *req->file;
        bool finish_it;
        {
            std::lock_guard guard(f.lock);
            const std::int64_t deadline = effective_deadline(*req);
            finish_it = f.closed || req->ctx_res != 0 || (deadline != 0 && monotonic_now_ns() >= deadline);
            if (!finish_it && deadline != req->armed_deadline) {
                std::lock_guard heap_guard(m_lock);
                if (req->heap_slot.load(std::memory_order_relaxed) != 0) heap_remove(*req);
                req->armed_deadline = deadline;
                if (deadline != 0) heap_add(*req);
            }
        }
        if (finish_it) completed += finish(*req, -ECANCELED);
    }
}

}  // namespace goro::detail
