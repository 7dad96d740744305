// goro::mutex — sync.Mutex for tasks: waiting parks the task, never the thread.
//
//     goro::mutex m;
//     co_await m.lock();  ...  m.unlock();
//     { auto g = co_await m.scoped_lock(); ... }   // unlocks at scope exit
//     if (m.try_lock()) { ...; m.unlock(); }
//     std::error_code e = co_await m.lock(ctx);       // gives up when ctx is done
//     if (!e) { ...; m.unlock(); }
//
// Like Go's mutex it is not owned by a task: any task may unlock it. Unlocking
// an unlocked mutex is a fatal error ("fatal error: sync: unlock of unlocked
// mutex", exit status 2), as in Go it cannot be recovered. Non-copyable and
// non-movable (Go: "must not be copied after first use"). Destroying a mutex
// that tasks are parked on is safe: they stay parked for good, as on a nil
// channel (see runtime/detail/wait_list.hpp).
//
// ---- Design (after Go's sync/mutex.go) ----
//
// One state word: bit 0 locked, bit 1 woken (a waiter was woken and is on its
// way to retry: unlock need not wake another), bit 2 starving, bits 3.. the
// number of parked waiters. Uncontended lock and unlock are one atomic RMW
// each: CAS 0 -> locked, fetch_sub(locked) -> 0.
//
// Two modes. Normal: a woken waiter competes with newly arriving lockers (which
// usually win: they are running), and on losing goes back to the FRONT of the
// queue. Starvation: once a waiter has waited more than 1 ms and lost a race,
// it sets `starving`; from then on unlock hands the lock directly to the head
// waiter (the locked bit never drops, newcomers queue at the tail and
// try_lock fails), until the handed waiter waited less than 1 ms or was the
// last one. Normal mode is much faster (a task can re-acquire the mutex many
// times in a row); starvation mode bounds the tail latency.
//
// The FIFO of parked waiters (wait_list, records in the frames of the parked
// tasks) is guarded by `m_queue_lock`; the waiter count in the state word is
// only changed under that lock, so it always equals the list's length. A
// waiter registers itself with a CAS that requires `locked` (or `starving`) to
// still be set: the unlocker that clears it will then see the count and take
// the slow path (lost-wake-up re-check: an unlock racing with a parking
// waiter makes that CAS fail and the waiter retries the lock instead).
//
// The slow path is a small coroutine (mutex::lock_slow, in sync.cpp): a woken
// waiter in normal mode must retry and may park again, which an awaiter
// cannot do after it resumed. Its frame comes from the frame allocator and
// only contended locks pay for it.
//
// lock(ctx) (no Go equivalent in sync; the shape of x/sync/semaphore's
// Acquire(ctx)): a context that is already done fails at once, even if the
// mutex is free. Otherwise the slow path registers a context callback before
// it first parks. The callback, under m_queue_lock, acts only on a waiter that
// is still *queued*: it unlinks it, decrements the count and wakes it with
// `cancelled`. A waiter that an unlocker already popped is left alone:
//   - starvation mode: the lock was handed to it (`granted`): it returns
//     success, the cancel lost the race (it owns the lock: no lost hand-off);
//   - normal mode: it was woken and owns the `woken` bit. Before it would park
//     again it re-checks ctx.err() under m_queue_lock; if done, it gives the
//     bit back with a CAS that requires the lock to still be held (or the
//     mutex starving), so the holder's unlock, which skipped waking anybody
//     while `woken` was set, now sees it clear and wakes the next waiter.
//     (A plain fetch_and could clear the bit just after that holder unlocked
//     and returned early: the waiters behind would then sleep forever.)
// `starving` is only ever cleared by unlock_slow's hand-off path, never by a
// cancellation: while it is set and `locked` is clear an unlocker is on its
// way to hand the lock over, and clearing it under that unlocker's feet would
// let a newcomer take the lock just before the hand-off (two owners). If the
// cancelled waiter was the last one, that unlocker finds the list empty and
// clears `starving` itself.
#pragma once

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <system_error>
#include <utility>

#include "detail/chan_core.hpp"
#include "detail/wait_list.hpp"
#include "task.hpp"

namespace goro {

class mutex;
class context;

/// Unlocks its mutex when destroyed (std::unique_lock for goro::mutex). Move-only.
class [[nodiscard]] mutex_guard {
public:
    mutex_guard() noexcept = default;
    explicit mutex_guard(mutex& m) noexcept : m_mutex(&m) {}
    mutex_guard(mutex_guard&& o) noexcept : m_mutex(std::exchange(o.m_mutex, nullptr)) {}
    mutex_guard& operator=(mutex_guard&& o) noexcept {
        if (this != &o) {
            reset();
            m_mutex = std::exchange(o.m_mutex, nullptr);
        }
        return *this;
    }
    mutex_guard(const mutex_guard&) = delete;
    mutex_guard& operator=(const mutex_guard&) = delete;
    ~mutex_guard() { reset(); }

    /// Unlocks now (if still owning).
    inline void reset() noexcept;
    /// Gives up ownership without unlocking.
    mutex* release() noexcept { return std::exchange(m_mutex, nullptr); }
    bool owns_lock() const noexcept { return m_mutex != nullptr; }

private:
    mutex* m_mutex = nullptr;
};

class mutex {
public:
    mutex() noexcept = default;
    ~mutex();  // sync.cpp: orphans tasks still parked on it (wait_list.hpp)
    mutex(const mutex&) = delete;
    mutex& operator=(const mutex&) = delete;
    mutex(mutex&&) = delete;
    mutex& operator=(mutex&&) = delete;

    class [[nodiscard]] lock_awaiter {
    public:
        explicit lock_awaiter(mutex& m) noexcept : m_mutex(&m) {}
        bool await_ready() noexcept { return m_mutex->lock_fast(); }
        std::coroutine_handle<> await_suspend(std::coroutine_handle<> h) {
            m_slow = m_mutex->lock_slow();
            return std::move(m_slow).operator co_await().await_suspend(h);
        }
        void await_resume() {
            if (m_slow) std::move(m_slow).operator co_await().await_resume();  // rethrows no_runtime
        }

    protected:
        mutex* m_mutex;
        task<void> m_slow;  // the contended path; destroyed (unlinking its waiter) with the awaiter
    };

    class [[nodiscard]] scoped_awaiter : public lock_awaiter {
    public:
        using lock_awaiter::lock_awaiter;
        mutex_guard await_resume() {
            lock_awaiter::await_resume();
            return mutex_guard(*m_mutex);
        }
    };

    /// The awaiter of lock(ctx): co_await gives a std::error_code.
    class [[nodiscard]] ctx_lock_awaiter {
    public:
        ctx_lock_awaiter(mutex& m, const context& ctx) noexcept : m_mutex(&m), m_ctx(&ctx) {}
        bool await_ready() noexcept;  // sync.cpp: ctx.err(), then the fast path
        std::coroutine_handle<> await_suspend(std::coroutine_handle<> h);  // sync.cpp
        std::error_code await_resume() {
            if (m_slow) return std::move(m_slow).operator co_await().await_resume();  // rethrows no_runtime
            return m_err;
        }

    private:
        mutex* m_mutex;
        const context* m_ctx;
        std::error_code m_err;           // the outcome when no slow path ran
        task<std::error_code> m_slow;    // the contended path (owns a copy of the context)
    };

    /// co_await m.lock(): Lock.
    lock_awaiter lock() noexcept { return lock_awaiter(*this); }
    /// co_await m.lock(ctx) -> std::error_code: {} once the mutex is locked by
    /// the caller, or ctx.err() (canceled / deadline_exceeded) if ctx is done
    /// before the lock is acquired; the mutex is then not held and the waiter
    /// has left the queue. A ctx that is already done fails even if the mutex
    /// is free. A cancel racing with a hand-off may lose: the result then is
    /// {} and the caller owns the lock. Needs runtime/context.hpp for `ctx`.
    ctx_lock_awaiter lock(const context& ctx) noexcept { return ctx_lock_awaiter(*this, ctx); }
    /// co_await m.scoped_lock() -> mutex_guard that unlocks at scope exit.
    scoped_awaiter scoped_lock() noexcept { return scoped_awaiter(*this); }

    /// TryLock: true if the mutex was unlocked and is now ours. Never waits;
    /// fails in starvation mode (the lock belongs to the queue then).
    bool try_lock() noexcept {
        std::uint32_t s = m_state.load(std::memory_order_relaxed);
        for (;;) {
            if (s & (k_locked | k_starving)) return false;
            // acquire: pairs with the release in unlock(); the previous
            // critical section happens before ours.
            if (m_state.compare_exchange_weak(s, s | k_locked, std::memory_order_acquire, std::memory_order_relaxed))
                return true;
        }
    }

    /// Unlock. Fatal ("sync: unlock of unlocked mutex") if not locked.
    void unlock() noexcept {
        // release: publishes the critical section to the next locker (its
        // acquire CAS, or the hand-off through ready()).
        const std::uint32_t prev = m_state.fetch_sub(k_locked, std::memory_order_release);
        if (!(prev & k_locked)) detail::sync_fatal("sync: unlock of unlocked mutex");
        if (prev != k_locked) unlock_slow(prev - k_locked);
    }

    /// Test hook: true when locked (a racy snapshot).
    bool is_locked() const noexcept { return m_state.load(std::memory_order_relaxed) & k_locked; }
    /// Test hook: how many tasks are parked in the queue (a racy snapshot).
    std::uint32_t debug_waiters() const noexcept { return m_state.load(std::memory_order_relaxed) >> k_waiter_shift; }

private:
    friend class cond;
    friend class once;  // destroys with its own name in the message
    static constexpr std::uint32_t k_locked = 1;
    static constexpr std::uint32_t k_woken = 2;
    static constexpr std::uint32_t k_starving = 4;
    static constexpr unsigned k_waiter_shift = 3;
    static constexpr std::uint32_t k_waiter = 1u << k_waiter_shift;
    static constexpr std::int64_t k_starvation_threshold_ns = 1'000'000;  // Go's starvationThresholdNs

    bool lock_fast() noexcept {
        std::uint32_t expected = 0;
        // acquire: pairs with the release fetch_sub in unlock().
        if (m_state.compare_exchange_strong(expected, k_locked, std::memory_order_acquire, std::memory_order_relaxed))
            return true;
        return lock_spin();
    }
    bool lock_spin() noexcept;         // try_lock, then a short spin while the holder runs (sync.cpp)
    task<void> lock_slow();            // sync.cpp
    task<std::error_code> lock_slow_ctx(context ctx);  // sync.cpp; by value: the frame owns a copy
    void unlock_slow(std::uint32_t now_state) noexcept;  // sync.cpp
    // The destructor's step (detail::destroy_wait_lists); `orphan_reason` is a static string.
    void destroy_wait_lists(const char* orphan_reason) noexcept;  // sync.cpp

    struct park_op;
    struct ctx_park_op;

    // The word described at the top of this file. CAS/RMW from any thread;
    // waiter-count and woken/starving changes happen under m_queue_lock.
    std::atomic<std::uint32_t> m_state{0};
    detail::chan_lock m_queue_lock;
    detail::wait_list m_waiters;  // guarded by m_queue_lock
};

inline void mutex_guard::reset() noexcept {
    if (m_mutex) std::exchange(m_mutex, nullptr)->unlock();
}

}  // namespace goro
