// goro::cond — sync.Cond: tasks wait for a condition guarded by a goro::mutex.
//
//     co_await m.lock();
//     while (!ready) co_await c.wait(m);   // unlocks m, parks, re-locks m
//     ...; m.unlock();
//     c.signal();      // wakes the longest-waiting task (FIFO), no-op if none
//     c.broadcast();   // wakes every task waiting now
//
// wait() never returns spuriously: only signal() or broadcast() wake it. It
// must be called with m locked, and returns with m locked. Non-copyable and
// non-movable. Destroying a cond while tasks wait on it is safe: they stay
// parked for good (see runtime/detail/wait_list.hpp).
//
// Design: a FIFO of waiter records (in the waiting frames) under a small lock.
// wait() links its waiter BEFORE unlocking the mutex, so a signal sent by the
// next holder of the mutex always finds it (Go uses a ticket for the same
// reason). Signal unlinks the head under the lock and readies it outside.
#pragma once

#include <coroutine>

#include "detail/chan_core.hpp"
#include "detail/wait_list.hpp"
#include "mutex.hpp"
#include "task.hpp"

namespace goro {

class cond {
public:
    cond() noexcept = default;
    ~cond() { detail::destroy_wait_lists(m_lock, {&m_waiters}, "goro::cond destroyed"); }
    cond(const cond&) = delete;
    cond& operator=(const cond&) = delete;
    cond(cond&&) = delete;
    cond& operator=(cond&&) = delete;

    /// co_await c.wait(m): Wait. m must be locked by the caller.
    [[nodiscard]] task<void> wait(mutex& m) {
        co_await park_op{this, &m};
        co_await m.lock();
    }

    /// Signal: wakes one waiting task, the one that waited longest.
    void signal() noexcept {
        const detail::foreign_entry entry;  // may be called from any thread
        m_lock.lock();
        detail::sync_waiter* w = m_waiters.pop_front();
        m_lock.unlock();
        if (w) detail::ready(w->g);  // w->g was written before w was linked
    }

    /// Broadcast: wakes every waiting task.
    void broadcast() noexcept {
        const detail::foreign_entry entry;  // may be called from any thread
        m_lock.lock();
        detail::sync_waiter* woken = nullptr;
        detail::sync_waiter** tail = &woken;
        while (detail::sync_waiter* w = m_waiters.pop_front()) {
            *tail = w;
            tail = &w->next;
        }
        m_lock.unlock();
        detail::ready_chain(woken);
    }

private:
    struct park_op {
        cond* c;
        mutex* m;
        detail::sync_waiter waiter{};
        bool parked = false;

        park_op(cond* cv, mutex* mu) noexcept : c(cv), m(mu) {}
        park_op(const park_op&) = delete;
        park_op& operator=(const park_op&) = delete;
        ~park_op() {
            // Destroyed while parked (runtime shutdown): leave the queue if still linked.
            if (parked && detail::parked_op_must_leave(waiter))  // then c is alive
                detail::leave_list(c->m_lock, c->m_waiters, waiter);
        }
        bool await_ready() const noexcept { return false; }
        void await_suspend(std::coroutine_handle<> h) {
            detail::goroutine* self = detail::prepare_park(h, "sync.Cond.Wait", "goro::cond::wait");
            mutex* mu = m;  // copied: the frame is not touched after publication
            waiter.g = self;
            parked = true;
            c->m_lock.lock();
            c->m_waiters.push_back(&waiter);
            c->m_lock.unlock();  // publication: a signal may resume us from here on
            mu->unlock();        // ... and it then re-locks mu, after this unlock
        }
        void await_resume() noexcept { parked = false; }
    };

    detail::chan_lock m_lock;
    detail::wait_list m_waiters;  // guarded by m_lock
};

}  // namespace goro
