// The epoll driver's deadlines: a min-heap per driver of the waiting
// requests' armed deadlines (guarded by m_lock), whose earliest bounds the
// park timeout (wait() in epoll_driver.cpp), and their expiry on the owner.
#include <cerrno>
#include <mutex>
#include <new>
#include <utility>

#include "../../runtime/detail/fatal.hpp"
#include "../../runtime/detail/timer_heap.hpp"
#include "epoll_driver.hpp"
#include "io_op.hpp"

namespace goro::detail {

unsigned epoll_driver::expire_deadlines() noexcept {
    unsigned completed = 0;
    for (;;) {
        const std::int64_t now = monotonic_now_ns();
        if (m_next_deadline.load(std::memory_order_relaxed) > now) return completed;
        io_request* req;
        {
            std::lock_guard guard(m_lock);
            if (m_heap.empty() || m_heap.front()->armed_deadline > now) {
                publish_next_deadline();
                return completed;
            }
            req = m_heap.front();
            heap_remove(*req);
        }
        // Still waiting (only this thread completes it). Its deadline may
        // have moved since it was armed (the mailbox has the news too): then
        // finish() is harmless only if it is really past, so check.
        bool past;
        {
            std::lock_guard guard(req->file->lock);
            const std::int64_t deadline = effective_deadline(*req);
            past = deadline != 0 && now >= deadline;
            if (!past) {
                req->armed_deadline = deadline;
                if (deadline != 0) {
                    std::lock_guard heap_guard(m_lock);
                    heap_add(*req);
                }
            }
        }
        if (past) completed += finish(*req, -ECANCELED);
    }
}

// ---- the deadline heap (m_lock held) ----

void epoll_driver::heap_swap(std::size_t a, std::size_t b) noexcept {
    std::swap(m_heap[a], m_heap[b]);
    m_heap[a]->heap_slot.store(static_cast<std::uint32_t>(a + 1), std::memory_order_relaxed);
    m_heap[b]->heap_slot.store(static_cast<std::uint32_t>(b + 1), std::memory_order_relaxed);
}

void epoll_driver::heap_fix(std::size_t i) noexcept {
    while (i > 0) {
        const std::size_t parent = (i - 1) / 2;
        if (m_heap[parent]->armed_deadline <= m_heap[i]->armed_deadline) break;
        heap_swap(i, parent);
        i = parent;
    }
    for (;;) {
        const std::size_t l = 2 * i + 1;
        const std::size_t r = l + 1;
        std::size_t least = i;
        if (l < m_heap.size() && m_heap[l]->armed_deadline < m_heap[least]->armed_deadline) least = l;
        if (r < m_heap.size() && m_heap[r]->armed_deadline < m_heap[least]->armed_deadline) least = r;
        if (least == i) break;
        heap_swap(i, least);
        i = least;
    }
}

void epoll_driver::heap_add(io_request& req) noexcept {
    GORO_ASSERT(m_lock.held_by_current_thread());
    try {
        m_heap.push_back(&req);
    } catch (const std::bad_alloc&) {
        fatal_exit("fatal error: goro: out of memory arming an I/O deadline\n");
    }
    req.heap_slot.store(static_cast<std::uint32_t>(m_heap.size()), std::memory_order_relaxed);
    heap_fix(m_heap.size() - 1);
    publish_next_deadline();
}

void epoll_driver::heap_remove(io_request& req) noexcept {
    GORO_ASSERT(m_lock.held_by_current_thread());
    const std::size_t i = req.heap_slot.load(std::memory_order_relaxed) - 1;
    const std::size_t last = m_heap.size() - 1;
    if (i != last) heap_swap(i, last);
    m_heap.pop_back();
    req.heap_slot.store(0, std::memory_order_relaxed);
    if (i < m_heap.size()) heap_fix(i);
    publish_next_deadline();
}

void epoll_driver::publish_next_deadline() noexcept {
    m_next_deadline.store(m_heap.empty() ? k_no_deadline : m_heap.front()->armed_deadline, std::memory_order_relaxed);
}

}  // namespace goro::detail
