// spin_mutex — a lock for short critical sections contended across worker
// threads (the scheduler's global queue and idle list): it spins briefly
// before sleeping in the kernel, where std::mutex goes to futex_wait at once.
// On this project's VMs a futex sleep and wake cost microseconds, far more
// than the critical sections it guards (a queue push or pop).
//
// The classic three-state futex lock (Drepper, "Futexes Are Tricky", mutex
// 2) with a spin phase:
//   0 unlocked, 1 locked, 2 locked and someone may sleep on it.
// unlock() makes a futex_wake call only from state 2, so an uncontended or
// spin-resolved hand-off costs no system call.
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

#include "cpu_relax.hpp"
#include "invariant.hpp"

namespace goro::detail {

class spin_mutex {
public:
    spin_mutex() = default;
    spin_mutex(const spin_mutex&) = delete;
    spin_mutex& operator=(const spin_mutex&) = delete;

    bool try_lock() noexcept {
        const bool taken = try_take();
#if defined(GORO_CHECK_INVARIANTS)
        if (taken) m_holder.bind();
#endif
        return taken;
    }

    void lock() noexcept {
        lock_contended();
#if defined(GORO_CHECK_INVARIANTS)
        m_holder.bind();
#endif
    }

    void unlock() noexcept {
#if defined(GORO_CHECK_INVARIANTS)
        GORO_ASSERT(m_holder.bound_to_current());
        m_holder.unbind();
#endif
        // release: publishes the critical section to the next holder.
        if (m_state.exchange(0, std::memory_order_release) == 2) futex(FUTEX_WAKE_PRIVATE, 1);
    }

    /// Checked builds (invariant.hpp): true when the calling thread holds the
    /// lock. For GORO_ASSERT in functions that require it held.
    bool held_by_current_thread() const noexcept { return m_holder.bound_to_current(); }

private:
    static constexpr int k_spins = 100;

    bool try_take() noexcept {
        std::uint32_t expected = 0;
        // acquire: the critical section sees what the previous holder wrote.
        return m_state.compare_exchange_strong(expected, 1, std::memory_order_acquire, std::memory_order_relaxed);
    }

    void lock_contended() noexcept {
        if (try_take()) return;
        for (int i = 0; i < k_spins; ++i) {
            cpu_relax();
            // relaxed read first: spin on a shared cache line, CAS only when free.
            if (m_state.load(std::memory_order_relaxed) == 0 && try_take()) return;
        }
        // Sleep: announce a possible sleeper (state 2) with every attempt, so
        // that the holder's unlock wakes one. acquire as in try_lock.
        while (m_state.exchange(2, std::memory_order_acquire) != 0) futex(FUTEX_WAIT_PRIVATE, 2);
    }

    void futex(int op, std::uint32_t value) noexcept {
        ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&m_state), op, value, nullptr, nullptr, 0);
    }

    std::atomic<std::uint32_t> m_state{0};
    owner_thread m_holder;  // checked builds only: who holds the lock
    static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
};

}  // namespace goro::detail
