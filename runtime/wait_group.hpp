// goro::wait_group — sync.WaitGroup: wait for a collection of tasks to finish.
//
//     goro::wait_group wg;
//     for (int i = 0; i < n; ++i) { wg.add(1); goro::go(worker(i, wg)); }  // worker calls wg.done()
//     co_await wg.wait();
//
// wait() parks the task (never the thread) until the counter is zero, then
// every waiter is released; on a zero counter it does not suspend. A group
// can be reused once wait() returned. A negative counter throws
// goro::negative_wait_group_counter ("sync: negative WaitGroup counter").
// Non-copyable and non-movable. Destroying a group while tasks wait on it is
// safe: they stay parked for good (see runtime/detail/wait_list.hpp).
//
// Design: a counter and a FIFO of parked waiters under one small lock
// (detail::chan_lock). The counter is also read without the lock by
// count(); the lock orders everything else. add() that brings the counter to
// zero unlinks every waiter under the lock, then readies them outside it. A
// waiter checks the counter and links itself under the same lock, so a
// done() cannot slip between the check and the park (no lost wake-up).
// Because of that, Go's "Add called concurrently with Wait" misuse cannot
// corrupt anything here and is not reported.
#pragma once

#include <atomic>
#include <coroutine>
#include <cstdint>

#include "detail/chan_core.hpp"
#include "detail/wait_list.hpp"
#include "error.hpp"

namespace goro {

/// "sync: negative WaitGroup counter".
struct negative_wait_group_counter : runtime_error {
    negative_wait_group_counter() : runtime_error("sync: negative WaitGroup counter") {}
};

class wait_group {
public:
    wait_group() noexcept = default;
    ~wait_group() { detail::destroy_wait_lists(m_lock, {&m_waiters}, "goro::wait_group destroyed"); }
    wait_group(const wait_group&) = delete;
    wait_group& operator=(const wait_group&) = delete;
    wait_group(wait_group&&) = delete;
    wait_group& operator=(wait_group&&) = delete;

    /// Add(delta). Throws negative_wait_group_counter if the counter would go
    /// below zero (the counter is left unchanged then).
    void add(std::int64_t delta = 1) {
        const detail::foreign_entry entry;  // may be called from any thread
        m_lock.lock();
        const std::int64_t v = m_count.load(std::memory_order_relaxed) + delta;
        if (v < 0) {
            m_lock.unlock();
            throw negative_wait_group_counter();
        }
        // relaxed: the lock orders the counter for everyone who acts on it;
        // count() is a snapshot.
        m_count.store(v, std::memory_order_relaxed);
        detail::sync_waiter* woken = nullptr;
        if (v == 0) {
            detail::sync_waiter** tail = &woken;
            while (detail::sync_waiter* w = m_waiters.pop_front()) {
                *tail = w;
                tail = &w->next;
            }
        }
        m_lock.unlock();
        detail::ready_chain(woken);
    }
    /// Done(): add(-1).
    void done() { add(-1); }

    /// Current counter (a snapshot).
    std::int64_t count() const noexcept { return m_count.load(std::memory_order_relaxed); }

    class [[nodiscard]] wait_awaiter {
    public:
        explicit wait_awaiter(wait_group& wg) noexcept : m_wg(&wg) {}
        wait_awaiter(const wait_awaiter&) = delete;
        wait_awaiter& operator=(const wait_awaiter&) = delete;
        ~wait_awaiter() {
            // Destroyed while parked (runtime shutdown): leave the queue if still linked.
            if (m_parked && detail::parked_op_must_leave(m_waiter))  // then m_wg is alive
                detail::leave_list(m_wg->m_lock, m_wg->m_waiters, m_waiter);
        }
        bool await_ready() noexcept {
            m_wg->m_lock.lock();
            if (m_wg->m_count.load(std::memory_order_relaxed) == 0) {
                m_wg->m_lock.unlock();
                return true;
            }
            return false;  // lock held until await_suspend
        }
        void await_suspend(std::coroutine_handle<> h) {
            detail::goroutine* self;
            try {
                self = detail::prepare_park(h, "sync.WaitGroup.Wait", "goro::wait_group::wait");
            } catch (...) {
                m_wg->m_lock.unlock();
                throw;
            }
            m_waiter.g = self;
            m_parked = true;
            m_wg->m_waiters.push_back(&m_waiter);
            m_wg->m_lock.unlock();  // publication: the frame belongs to the waker now
        }
        void await_resume() noexcept { m_parked = false; }

    private:
        wait_group* m_wg;
        detail::sync_waiter m_waiter;
        bool m_parked = false;
    };

    /// co_await wg.wait(): Wait.
    wait_awaiter wait() noexcept { return wait_awaiter(*this); }

private:
    detail::chan_lock m_lock;
    std::atomic<std::int64_t> m_count{0};  // written under m_lock
    detail::wait_list m_waiters;           // guarded by m_lock
};

}  // namespace goro
