// goro::semaphore — a weighted semaphore (golang.org/x/sync/semaphore.Weighted).
//
//     goro::semaphore sem(10);
//     co_await sem.acquire(3);  ...  sem.release(3);
//     if (sem.try_acquire(1)) { ...; sem.release(1); }
//     auto err = co_await sem.acquire(3, ctx);   // gives up when ctx is done
//
// Waiters are served strictly FIFO: a large acquire at the head blocks later
// small ones (no starvation of large requests). An acquire larger than the
// size can never succeed: without a context it blocks forever; with one it
// waits for the context and does not block anybody else. release() of more
// than is held throws goro::semaphore_overrelease ("semaphore: released more
// than held"). Non-copyable and non-movable. Destroying a semaphore while
// tasks wait on it is safe: they stay parked for good (see
// runtime/detail/wait_list.hpp).
//
// Design: size, current and the FIFO of waiters (records in the waiting
// frames) under one small lock. release() grants units to waiters from the
// head while they fit (the woken task owns its units already). A cancelled
// waiter unlinks itself under the lock and, if it was at the head, lets the
// waiters behind it through (x/sync's notifyWaiters after a cancelled head).
// A request larger than the size waits in a list of its own, m_never: it is
// never granted and blocks nobody, but the destructor must see it.
#pragma once

#include <coroutine>
#include <cstdint>

#include "detail/chan_core.hpp"
#include "detail/wait_list.hpp"
#include "error.hpp"

namespace goro {

/// "semaphore: released more than held".
struct semaphore_overrelease : runtime_error {
    semaphore_overrelease() : runtime_error("semaphore: released more than held") {}
};

class context;

namespace detail {
template <typename Sem>
class sem_ctx_acquire;
}

class semaphore {
public:
    explicit semaphore(std::int64_t size) noexcept : m_size(size) {}
    ~semaphore() { detail::destroy_wait_lists(m_lock, {&m_waiters, &m_never}, "goro::semaphore destroyed"); }
    semaphore(const semaphore&) = delete;
    semaphore& operator=(const semaphore&) = delete;
    semaphore(semaphore&&) = delete;
    semaphore& operator=(semaphore&&) = delete;

    class [[nodiscard]] acquire_awaiter {
    public:
        acquire_awaiter(semaphore& s, std::int64_t n) noexcept : m_sem(&s) { m_waiter.amount = n; }
        acquire_awaiter(const acquire_awaiter&) = delete;
        acquire_awaiter& operator=(const acquire_awaiter&) = delete;
        ~acquire_awaiter() {
            // Destroyed while parked (runtime shutdown): leave the queue if still linked.
            if (m_parked && detail::parked_op_must_leave(m_waiter))  // then m_sem is alive
                detail::leave_list(m_sem->m_lock, m_sem->queue_for(m_waiter.amount), m_waiter);
        }
        bool await_ready() noexcept {
            m_sem->m_lock.lock();
            if (m_sem->try_acquire_locked(m_waiter.amount)) {
                m_sem->m_lock.unlock();
                return true;
            }
            return false;  // lock held until await_suspend
        }
        void await_suspend(std::coroutine_handle<> h) {
            detail::goroutine* self;
            try {
                self = detail::prepare_park(h, "semacquire", "goro::semaphore::acquire");
            } catch (...) {
                m_sem->m_lock.unlock();
                throw;
            }
            m_waiter.g = self;
            m_parked = true;
            // A request larger than the size never fits: it parks in m_never
            // (blocks forever, as x/sync does without a deadline) and does
            // not block smaller requests.
            m_sem->queue_for(m_waiter.amount).push_back(&m_waiter);
            m_sem->m_lock.unlock();  // publication
        }
        void await_resume() noexcept { m_parked = false; }

    private:
        semaphore* m_sem;
        detail::sync_waiter m_waiter;
        bool m_parked = false;
    };

    /// co_await sem.acquire(n): waits until n units are available (FIFO).
    acquire_awaiter acquire(std::int64_t n = 1) noexcept { return acquire_awaiter(*this, n); }

    /// co_await sem.acquire(n, ctx) -> std::error_code: {} on success, or
    /// ctx.err() (the semaphore is then unchanged). Defined in context.hpp.
    template <typename Ctx = context>
    detail::sem_ctx_acquire<semaphore> acquire(std::int64_t n, const Ctx& ctx) noexcept;

    /// TryAcquire: takes n units if available now and nobody is waiting.
    bool try_acquire(std::int64_t n = 1) noexcept {
        m_lock.lock();
        const bool ok = try_acquire_locked(n);
        m_lock.unlock();
        return ok;
    }

    /// Release(n). Throws semaphore_overrelease if more than held.
    void release(std::int64_t n = 1) {
        const detail::foreign_entry entry;  // may be called from any thread
        m_lock.lock();
        if (m_cur - n < 0) {
            m_lock.unlock();
            throw semaphore_overrelease();
        }
        m_cur -= n;
        detail::sync_waiter* woken = grant_locked();
        m_lock.unlock();
        detail::ready_chain(woken);
    }

    std::int64_t size() const noexcept { return m_size; }

private:
    template <typename Sem>
    friend class detail::sem_ctx_acquire;

    // The list a request for n units waits in: m_never if it can never fit.
    detail::wait_list& queue_for(std::int64_t n) noexcept { return n <= m_size ? m_waiters : m_never; }

    bool try_acquire_locked(std::int64_t n) noexcept {
        if (m_size - m_cur >= n && m_waiters.empty()) {
            m_cur += n;
            return true;
        }
        return false;
    }
    // Grants units to waiters from the head, in order, while they fit.
    // Returns the granted waiters chained through `next` (ready them unlocked).
    detail::sync_waiter* grant_locked() noexcept {
        detail::sync_waiter* woken = nullptr;
        detail::sync_waiter** tail = &woken;
        while (detail::sync_waiter* w = m_waiters.head) {
            if (m_size - m_cur < w->amount) break;  // FIFO: a large head blocks smaller ones
            m_cur += w->amount;
            m_waiters.unlink(w);
            w->granted = true;
            *tail = w;
            tail = &w->next;
        }
        return woken;
    }

    detail::chan_lock m_lock;
    const std::int64_t m_size;
    std::int64_t m_cur = 0;       // units held; guarded by m_lock
    detail::wait_list m_waiters;  // guarded by m_lock
    // Requests larger than m_size: never granted, linked only so that a
    // cancel and the destructor find them. Guarded by m_lock.
    detail::wait_list m_never;
};

}  // namespace goro
