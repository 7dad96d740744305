// goro::rw_mutex — sync.RWMutex: many readers or one writer, writer preference.
//
//     goro::rw_mutex rw;
//     co_await rw.lock_shared(); ... rw.unlock_shared();    // RLock / RUnlock
//     co_await rw.lock();        ... rw.unlock();           // Lock / Unlock
//     rw.try_lock(), rw.try_lock_shared()
//
// As in Go: once a writer waits, new readers block until that writer has
// acquired and released the lock (so recursive read-locking can deadlock);
// when a writer unlocks, every reader that was waiting is admitted before the
// next writer. Misuse is fatal (exit status 2): "sync: Unlock of unlocked
// RWMutex", "sync: RUnlock of unlocked RWMutex". Non-copyable, non-movable.
//
// Design: all state under one small lock (detail::chan_lock): active readers,
// whether a writer holds it, and two FIFOs of parked tasks (waiter records in
// their frames). Unlockers grant ownership to the tasks they wake (the count or
// writer flag is updated for them under the lock), so a woken task never
// retries. Critical sections are a few instructions.
#pragma once

#include <coroutine>
#include <cstdint>

#include "detail/chan_core.hpp"
#include "detail/wait_list.hpp"

namespace goro {

class rw_mutex {
public:
    rw_mutex() noexcept = default;
    rw_mutex(const rw_mutex&) = delete;
    rw_mutex& operator=(const rw_mutex&) = delete;
    rw_mutex(rw_mutex&&) = delete;
    rw_mutex& operator=(rw_mutex&&) = delete;

    template <bool Shared>
    class [[nodiscard]] lock_awaiter {
    public:
        explicit lock_awaiter(rw_mutex& m) noexcept : m_rw(&m) {}
        lock_awaiter(const lock_awaiter&) = delete;
        lock_awaiter& operator=(const lock_awaiter&) = delete;
        ~lock_awaiter() {
            if (m_parked) {  // destroyed while parked (runtime shutdown)
                m_rw->m_lock.lock();
                if (m_waiter.queued) (Shared ? m_rw->m_readers_q : m_rw->m_writers_q).unlink(&m_waiter);
                m_rw->m_lock.unlock();
            }
        }
        bool await_ready() noexcept {
            m_rw->m_lock.lock();
            if (Shared ? m_rw->try_lock_shared_locked() : m_rw->try_lock_locked()) {
                m_rw->m_lock.unlock();
                return true;
            }
            return false;  // lock held until await_suspend
        }
        void await_suspend(std::coroutine_handle<> h) {
            detail::goroutine* self;
            try {
                self = detail::prepare_park(h, Shared ? "sync.RWMutex.RLock" : "sync.RWMutex.Lock",
                                            "goro::rw_mutex::lock");
            } catch (...) {
                m_rw->m_lock.unlock();
                throw;
            }
            m_waiter.g = self;
            m_parked = true;
            (Shared ? m_rw->m_readers_q : m_rw->m_writers_q).push_back(&m_waiter);
            m_rw->m_lock.unlock();  // publication
        }
        void await_resume() noexcept { m_parked = false; }  // ownership was granted by the waker

    private:
        rw_mutex* m_rw;
        detail::sync_waiter m_waiter;
        bool m_parked = false;
    };

    /// co_await rw.lock(): Lock (exclusive).
    lock_awaiter<false> lock() noexcept { return lock_awaiter<false>(*this); }
    /// co_await rw.lock_shared(): RLock.
    lock_awaiter<true> lock_shared() noexcept { return lock_awaiter<true>(*this); }

    bool try_lock() noexcept {
        m_lock.lock();
        const bool ok = try_lock_locked();
        m_lock.unlock();
        return ok;
    }
    bool try_lock_shared() noexcept {
        m_lock.lock();
        const bool ok = try_lock_shared_locked();
        m_lock.unlock();
        return ok;
    }

    /// Unlock: admits every waiting reader, or else the next writer.
    void unlock() noexcept {
        m_lock.lock();
        if (!m_writer) {
            m_lock.unlock();
            detail::sync_fatal("sync: Unlock of unlocked RWMutex");
        }
        m_writer = false;
        detail::sync_waiter* woken = nullptr;
        if (!m_readers_q.empty()) {
            detail::sync_waiter** tail = &woken;
            while (detail::sync_waiter* w = m_readers_q.pop_front()) {
                ++m_readers;
                *tail = w;
                tail = &w->next;
            }
        } else if (detail::sync_waiter* w = m_writers_q.pop_front()) {
            m_writer = true;
            woken = w;
        }
        m_lock.unlock();
        detail::ready_chain(woken);
    }

    /// RUnlock: the last reader out hands the lock to a waiting writer.
    void unlock_shared() noexcept {
        m_lock.lock();
        if (m_readers == 0) {
            m_lock.unlock();
            detail::sync_fatal("sync: RUnlock of unlocked RWMutex");
        }
        detail::sync_waiter* woken = nullptr;
        if (--m_readers == 0) {
            if (detail::sync_waiter* w = m_writers_q.pop_front()) {
                m_writer = true;
                woken = w;
            }
        }
        m_lock.unlock();
        detail::ready_chain(woken);
    }

private:
    bool try_lock_locked() noexcept {
        if (m_writer || m_readers != 0 || !m_writers_q.empty()) return false;
        m_writer = true;
        return true;
    }
    // Writer preference: a waiting writer blocks new readers.
    bool try_lock_shared_locked() noexcept {
        if (m_writer || !m_writers_q.empty()) return false;
        ++m_readers;
        return true;
    }

    detail::chan_lock m_lock;
    std::int64_t m_readers = 0;     // active readers; guarded by m_lock
    bool m_writer = false;          // a writer holds the lock; guarded by m_lock
    detail::wait_list m_readers_q;  // parked readers; guarded by m_lock
    detail::wait_list m_writers_q;  // parked writers; guarded by m_lock
};

}  // namespace goro
