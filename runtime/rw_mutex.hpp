// goro::rw_mutex — sync.RWMutex: many readers or one writer, writer preference.
//
//     goro::rw_mutex rw;
//     co_await rw.lock_shared(); ... rw.unlock_shared();    // RLock / RUnlock
//     co_await rw.lock();        ... rw.unlock();           // Lock / Unlock
//     rw.try_lock(), rw.try_lock_shared()
//     std::error_code e = co_await rw.lock(ctx);         // also lock_shared(ctx):
//     if (!e) { ...; rw.unlock(); }                       // gives up when ctx is done
//
// As in Go: once a writer waits, new readers block until that writer has
// acquired and released the lock (so recursive read-locking can deadlock);
// when a writer unlocks, every reader that was waiting is admitted before the
// next writer. Misuse is fatal (exit status 2): "sync: Unlock of unlocked
// RWMutex", "sync: RUnlock of unlocked RWMutex". Non-copyable, non-movable.
// Destroying it while tasks are parked on it is safe: they stay parked for
// good (see runtime/detail/wait_list.hpp).
//
// Design: all state under one small lock (detail::chan_lock): active readers,
// whether a writer holds it, and two FIFOs of parked tasks (waiter records in
// their frames). Unlockers grant ownership to the tasks they wake (the count or
// writer flag is updated for them under the lock), so a woken task never
// retries. Critical sections are a few instructions.
//
// lock(ctx) / lock_shared(ctx) (in sync.cpp): a context that is already done
// fails at once. Otherwise a context callback is registered before parking; it
// acts, under m_lock, only on a waiter still queued (one that was granted the
// lock keeps it: the cancel lost the race). Removing a queued *writer* can
// unblock readers: they park behind a waiting writer (writer preference) and
// are otherwise admitted only by a writer's unlock. So when the cancelled
// writer leaves no writer holding or waiting, every parked reader is admitted
// at once (else a reader holder's unlock_shared, finding no writer to hand to,
// would leave them parked forever).
#pragma once

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <system_error>

#include "detail/chan_core.hpp"
#include "detail/wait_list.hpp"
#include "task.hpp"

namespace goro {

class context;

class rw_mutex {
public:
    rw_mutex() noexcept = default;
    ~rw_mutex() { detail::destroy_wait_lists(m_lock, {&m_readers_q, &m_writers_q}, "goro::rw_mutex destroyed"); }
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
            // Destroyed while parked (runtime shutdown): leave the queue if still linked.
            if (m_parked && detail::parked_op_must_leave(m_waiter))  // then m_rw is alive
                detail::leave_list(m_rw->m_lock, Shared ? m_rw->m_readers_q : m_rw->m_writers_q, m_waiter);
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

    /// The awaiter of lock(ctx) / lock_shared(ctx): co_await gives a std::error_code.
    class [[nodiscard]] ctx_lock_awaiter {
    public:
        ctx_lock_awaiter(rw_mutex& m, const context& ctx, bool shared) noexcept
            : m_rw(&m), m_ctx(&ctx), m_shared(shared) {}
        bool await_ready() noexcept;  // sync.cpp: ctx.err(), then try_lock / try_lock_shared
        std::coroutine_handle<> await_suspend(std::coroutine_handle<> h);  // sync.cpp
        std::error_code await_resume() {
            if (m_slow) return std::move(m_slow).operator co_await().await_resume();  // rethrows no_runtime
            return m_err;
        }

    private:
        rw_mutex* m_rw;
        const context* m_ctx;
        bool m_shared;
        std::error_code m_err;          // the outcome when no slow path ran
        task<std::error_code> m_slow;   // the parking path (owns a copy of the context)
    };

    /// co_await rw.lock(): Lock (exclusive).
    lock_awaiter<false> lock() noexcept { return lock_awaiter<false>(*this); }
    /// co_await rw.lock_shared(): RLock.
    lock_awaiter<true> lock_shared() noexcept { return lock_awaiter<true>(*this); }
    /// co_await rw.lock(ctx) -> std::error_code: {} once write-locked, or
    /// ctx.err() if ctx is done first (nothing held, the waiter has left the
    /// queue; an already-done ctx fails at once). Needs runtime/context.hpp.
    ctx_lock_awaiter lock(const context& ctx) noexcept { return ctx_lock_awaiter(*this, ctx, false); }
    /// co_await rw.lock_shared(ctx) -> std::error_code: as lock(ctx), for RLock.
    ctx_lock_awaiter lock_shared(const context& ctx) noexcept { return ctx_lock_awaiter(*this, ctx, true); }

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
        const detail::foreign_entry entry;  // may be called from any thread
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
        const detail::foreign_entry entry;  // may be called from any thread
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

    /// Test hook: how many tasks are parked (readers and writers; a snapshot).
    std::size_t debug_waiters() noexcept {
        m_lock.lock();
        std::size_t n = 0;
        for (const detail::wait_list* q : {&m_readers_q, &m_writers_q})
            for (const detail::sync_waiter* w = q->head; w; w = w->next) ++n;
        m_lock.unlock();
        return n;
    }

private:
    struct ctx_park_op;
    task<std::error_code> lock_slow_ctx(context ctx, bool shared);  // sync.cpp; by value: the frame owns a copy
    // After a queued writer left (cancelled): if no writer holds or waits any
    // more, admits every parked reader. Returns them chained through `next`
    // (ready them unlocked). Lock held.
    detail::sync_waiter* admit_readers_locked() noexcept {
        if (m_writer || !m_writers_q.empty()) return nullptr;
        detail::sync_waiter* woken = nullptr;
        detail::sync_waiter** tail = &woken;
        while (detail::sync_waiter* w = m_readers_q.pop_front()) {
            ++m_readers;
            *tail = w;
            tail = &w->next;
        }
        return woken;
    }

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
