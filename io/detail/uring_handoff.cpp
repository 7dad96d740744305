// Hand-off for the io_uring driver: moving a processor's operations from the
// ring of the thread that lost it to a new ring of the thread that took it
// over, and the old ring's end (its orphan). The design, and why it is safe,
// is in poller.hpp ("Hand-off"); the hand-off itself in runtime/handoff.cpp.
#include <liburing.h>

#include <algorithm>
#include <cstdio>
#include <mutex>
#include <new>
#include <vector>

#include "../../runtime/detail/fatal.hpp"
#include "../../runtime/detail/goroutine.hpp"
#include "../../runtime/detail/intrusive_list.hpp"
#include "io_op.hpp"
#include "poller.hpp"

namespace goro::detail {
namespace {

std::uint64_t user_data_of(const io_operation* op) noexcept {
    return reinterpret_cast<std::uintptr_t>(op);
}

// A request the new ring can run again from the start: a socket operation
// (its effect happens only in the old ring's task work, which never runs
// before the old thread cancels it; see poller.hpp). Others (files, opens,
// fsync) may have run already in a kernel worker.
bool restartable(const io_request& r) noexcept { return r.file != nullptr && is_socket_kind(r.op); }

}  // namespace

void poller::link_request(io_request& req) noexcept {
    GORO_ASSERT(m_owner.is_current());
    GORO_ASSERT(req.ring == nullptr);  // in one poller's list at most
    req.ring = m_ring;
    list_push_front<&io_request::ring_prev, &io_request::ring_next>(m_requests, req);
}

void poller::unlink_request(io_request& req) noexcept {
    GORO_ASSERT(m_owner.is_current());
    if (!req.ring) return;
    list_erase<&io_request::ring_prev, &io_request::ring_next>(m_requests, req);
    req.ring = nullptr;
}

poller::poller(orphan_tag) noexcept : m_is_orphan(true) {}

void poller::adopt() noexcept {
    // The thread that lost the processor touches this poller no more (the
    // hand-off protocol orders its last writes before this call): take over.
    m_owner.bind();
    if (!m_single_issuer) return;  // any thread may drive this ring

    io_uring* old = m_ring;
    // 1. Completions already posted on the old ring (stashed ones first):
    //    run below, after the requests are sorted out. With DEFER_TASKRUN
    //    the kernel posts CQEs only while the old thread is inside
    //    io_uring_enter, which it is not now.
    std::vector<completion> batch;
    // 2. SQEs the kernel has not consumed (prepared by the old thread's
    //    last round, or flushed by a submission that did not reach the
    //    kernel): taken back, so that the old ring never runs them.
    std::vector<std::uint64_t> unconsumed;
    try {
        batch.assign(m_backlog.begin() + static_cast<std::ptrdiff_t>(m_backlog_head), m_backlog.end());
        m_backlog.clear();
        m_backlog_head = 0;
        unsigned head;
        io_uring_cqe* cqe = nullptr;
        unsigned seen = 0;
        io_uring_for_each_cqe(old, head, cqe) {
            batch.push_back(completion{cqe->user_data, cqe->res, cqe->flags});
            ++seen;
        }
        io_uring_cq_advance(old, seen);
        const unsigned khead = io_uring_smp_load_acquire(old->sq.khead);
        for (unsigned i = khead; i != old->sq.sqe_tail; ++i)
            unconsumed.push_back(old->sq.sqes[i & old->sq.ring_mask].user_data);
        old->sq.sqe_head = old->sq.sqe_tail = khead;
        io_uring_smp_store_release(old->sq.ktail, khead);
    } catch (const std::bad_alloc&) {
        fatal_exit("fatal error: goro: out of memory in a processor hand-off\n");
    }
    // CQEs the kernel could not post (a full CQ) are flushed only by the
    // old thread: the requests they complete cannot be told apart from
    // those in flight, so none may move.
    const bool can_move = !io_uring_cq_has_overflow(old);
    auto in_list = [](const std::vector<std::uint64_t>& v, std::uint64_t ud) {
        return std::find(v.begin(), v.end(), ud) != v.end();
    };

    // 3. The new ring, on this thread. The monitor stops reading the old
    //    one first (m_hint_ring): it becomes the orphan's, and is unmapped
    //    when the orphan is destroyed.
    publish_hint_ring(nullptr);
    try {
        setup_ring(256);
    } catch (const std::exception& e) {
        char message[512];
        std::snprintf(message, sizeof message, "fatal error: goro: a processor hand-off needs a new io_uring: %s\n",
                      e.what());
        fatal_exit(message);
    }
    auto orphan = std::unique_ptr<poller>(new (std::nothrow) poller(orphan_tag{}));
    if (!orphan) fatal_exit("fatal error: goro: out of memory in a processor hand-off\n");
    orphan->m_ring = old;
    orphan->m_defer_taskrun = true;
    orphan->m_single_issuer = true;
    orphan->m_setup = "orphan";
    // Counted afresh: what runs on the new ring from now on (the old
    // batch's completions below are not counted out again).
    m_in_flight.store(0, std::memory_order_relaxed);
    std::int64_t orphan_ops = 0;

    // 4. Sort the requests of the old ring out.
    std::vector<io_request*> restart_here;
    std::vector<std::uint64_t> completed;
    for (const completion& c : batch)
        if (!(c.flags & IORING_CQE_F_MORE)) completed.push_back(c.user_data);
    for (io_request* r = m_requests; r;) {
        io_request* next = r->ring_next;
        const std::uint64_t ud = user_data_of(r);
        if (r->ring == old && !in_list(completed, ud)) {
            // Its cancellations that never reached the kernel will not complete.
            const std::uint64_t node = user_data_of(&r->cancel_node);
            for (std::uint64_t u : unconsumed)
                if (u == node) --r->cancel_node.in_flight;
            const bool consumed = !in_list(unconsumed, ud);
            unlink_request(*r);
            if (!consumed || (can_move && restartable(*r))) {
                if (consumed) {
                    orphan->m_dropped.push_back(dropped_op{ud, r->poll_first, false});
                    ++orphan_ops;
                    if (r->op == io_kind::accept || r->op == io_kind::connect) r->poll_first = true;
                }
                restart_here.push_back(r);
            } else {
                // Left behind: the orphan completes it.
                std::unique_lock<spin_mutex> guard;
                if (r->file) guard = std::unique_lock(r->file->lock);
                r->driver = orphan.get();
                orphan->link_request(*r);  // on `old`: the orphan's ring
                ++orphan_ops;
            }
        }
        r = next;
    }
    // The old wake-up read, if the kernel holds it.
    const std::uint64_t wake_ud = user_data_of(&m_wake_op);
    if (!in_list(completed, wake_ud) && !in_list(unconsumed, wake_ud)) {
        orphan->m_dropped.push_back(dropped_op{wake_ud, true, false});
        ++orphan_ops;
    }
    std::sort(orphan->m_dropped.begin(), orphan->m_dropped.end(),
              [](const dropped_op& a, const dropped_op& b) { return a.user_data < b.user_data; });
    orphan->m_in_flight.store(orphan_ops, std::memory_order_relaxed);

    // Cancellations queued for requests left behind go with them. (Others
    // may post to the orphan already: their requests name it.)
    {
        std::scoped_lock guard(m_mailbox_lock, orphan->m_mailbox_lock);
        for (remote_cancel* n = m_mailbox.head; n;) {
            remote_cancel* next = n->next;
            if (static_cast<request_cancel*>(n)->owner->driver == orphan.get()) {
                m_mailbox.remove(n);
                orphan->m_mailbox.push(n);
                orphan->m_mailbox_nonempty.store(true, std::memory_order_relaxed);
            }
            n = next;
        }
        if (!m_mailbox.head) m_mailbox_nonempty.store(false, std::memory_order_relaxed);
    }

    // 5. The moved requests start again on the new ring, under the deadline
    //    they were armed with (absolute), unless their cancellation is
    //    wanted: then they complete as cancelled, and settle_request says
    //    how (closed, timeout, the context's error, or a restart).
    for (io_request* r : restart_here) {
        if (r->file) {
            std::unique_lock guard(r->file->lock);
            if (!cancel_wanted(*r)) {
                restart(*r, r->armed_deadline);
                continue;
            }
        } else {
            restart(*r, r->armed_deadline);
            continue;
        }
        r->poll_first = false;
        r->complete(r, -ECANCELED, 0);
    }
    arm_wake_read();
    publish_hint_ring(m_ring);

    // 6. The old ring's completions, in order, now that every request is
    //    where it belongs (a cancellation asked again goes to the right ring).
    for (const completion& c : batch) {
        if (c.user_data == k_ignored_user_data || c.user_data == 0 || c.user_data == wake_ud) continue;
        auto* op = reinterpret_cast<io_operation*>(static_cast<std::uintptr_t>(c.user_data));
        op->complete(op, c.res, c.flags);
    }
    m_orphan = std::move(orphan);
}

bool poller::drop_if_moved(std::uint64_t user_data, int res) noexcept {
    auto it = std::lower_bound(m_dropped.begin(), m_dropped.end(), user_data,
                               [](const dropped_op& d, std::uint64_t u) { return d.user_data < u; });
    if (it == m_dropped.end() || it->user_data != user_data || it->completed) return false;
    // A moved operation that did its I/O here as well: its data went twice
    // (or was taken twice). Only an operation the kernel had handed to a
    // worker thread could do that; none of the restartable kinds is.
    if (res >= 0 && !it->harmless)
        fatal_exit("fatal error: goro: a socket operation moved by a processor hand-off also completed on "
                   "its old io_uring ring\n");
    it->completed = true;  // its one completion came; never matches again
    return true;
}

void poller::submit_orphan_cancels() noexcept {
    // Plain submissions (no GETEVENTS): no task work runs before every
    // moved operation is cancelled. Between full batches the CQ is emptied
    // (reap reads it from memory), so that it never overflows, which would
    // make liburing enter with GETEVENTS.
    for (const dropped_op& d : m_dropped) {
        io_uring_sqe* sqe = io_uring_get_sqe(m_ring);
        if (!sqe) {
            submit();
            reap();
            sqe = io_uring_get_sqe(m_ring);
        }
        io_uring_prep_cancel64(sqe, d.user_data, 0);
        io_uring_sqe_set_data64(sqe, k_ignored_user_data);
    }
    submit();
}

void poller::retire() noexcept {
    GORO_ASSERT(m_is_orphan);
    m_owner.bind();  // the thread that made this ring, back from its task
    submit_orphan_cancels();
    // Requests left behind complete (their tasks go to the global queue:
    // this thread holds no processor); cancellations posted for them are
    // drained by park(). The timeout bounds how late a shutdown is seen:
    // then everything left is cancelled.
    while (m_in_flight.load(std::memory_order_relaxed) > 0) {
        if (runtime_stopping()) {
            io_uring_sqe* sqe = get_sqe();
            io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
            io_uring_sqe_set_data64(sqe, k_ignored_user_data);
        }
        park(10'000'000);
    }
}

}  // namespace goro::detail
