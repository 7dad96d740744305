// sysmon — the runtime's monitor thread (Go's sysmon), internal. The design
// (what it watches, its polling schedule, when it hands a processor off) is
// in the scheduler's essay, runtime/scheduler.cpp, section "The monitor";
// the protocols are at the top of runtime/sysmon.cpp.
//
// The scheduler's side of it is small: each processor publishes its
// `running` goroutine and its `schedtick` (scheduler_state.hpp), honours
// `preempt_slice` when it would let runnext inherit a time slice, and calls
// sysmon_kick() after leaving the idle list. (The monitor reads a
// goroutine's fields with the dump's pin, which every finish already
// honours: the pin protocol in runtime/sysmon.cpp.)
#pragma once

#include <cstdint>
#include <memory>

#include "scheduler_state.hpp"

namespace goro {
struct options;
}

namespace goro::detail {

/// sysmon_state values (runtime_state::sysmon_state).
inline constexpr std::uint32_t k_sysmon_polling = 0;
inline constexpr std::uint32_t k_sysmon_asleep = 1;
inline constexpr std::uint32_t k_sysmon_stopping = 2;

/// What the monitor is asked to do, decided once when run() starts.
struct sysmon_settings {
    /// A runnext hand-off chain that has held its processor this long loses
    /// runnext's inheritance (options::time_slice, GORO_DEBUG=timeslice);
    /// 0: slices never expire.
    std::int64_t slice_ns = 10'000'000;
    /// Report a goroutine that has run this long without suspending
    /// (GORO_DEBUG=stuck); 0: no reports.
    std::int64_t stuck_ns = 0;
    /// Hand a processor whose run has lasted a time slice to a spare
    /// thread (runtime/handoff.cpp), on either driver (an io_uring
    /// processor's operations move to a new ring: io/detail/poller.hpp);
    /// GORO_DEBUG=handoff=0 turns it off.
    bool handoff = true;
    /// Thieves pay a membarrier(2) per "steal half" so that deque owners
    /// pay no exchange per pop or join (work_deque.hpp, the asymmetric
    /// mode); GORO_DEBUG=stealfence=0 turns it off (the owners fence).
    /// Not a monitor setting, but read with them, once per run.
    bool asymmetric_steals = true;
    /// A processor that runs out of work with I/O in flight spins a while
    /// before it parks (poll_spin.hpp); GORO_DEBUG=pollspin=0
    /// turns it off. Not a monitor setting either.
    bool poll_spin = true;

    bool needed() const noexcept { return slice_ns > 0 || stuck_ns > 0; }
};

/// options::time_slice and the GORO_DEBUG settings `timeslice=<ms>` (it wins
/// over the option) and `stuck=<ms>`. Throws goro::bad_configuration for a
/// negative slice or a value that is not a number of milliseconds.
sysmon_settings read_sysmon_settings(const options& opts);

/// The monitor thread, for the life of one run: started by the constructor,
/// stopped (woken at once, joined) by stop() or the destructor. Throws
/// std::system_error when the thread cannot be started.
class sysmon {
public:
    sysmon(runtime_state& rt, const sysmon_settings& settings);
    ~sysmon();
    sysmon(const sysmon&) = delete;
    sysmon& operator=(const sysmon&) = delete;

    /// Stops and joins the thread; a stall still being reported gets its
    /// closing line first. Idempotent.
    void stop() noexcept;

private:
    struct impl;
    std::unique_ptr<impl> m_impl;
};

/// Slow half of sysmon_kick: wakes a monitor that sleeps because every
/// processor was idle. Any thread.
void sysmon_wake(runtime_state& rt) noexcept;

/// Called by a processor after the sched_lock section in which it (or a
/// waker on its behalf) took it off the idle list: the monitor may have gone
/// to sleep seeing every processor idle. relaxed: the monitor stored asleep
/// inside an earlier sched_lock section, which the caller's own section
/// follows (or the monitor saw npidle < nprocs and did not sleep).
inline void sysmon_kick(runtime_state& rt) noexcept {
    if (rt.sysmon_state.load(std::memory_order_relaxed) == k_sysmon_asleep) [[unlikely]]
        sysmon_wake(rt);
}


}  // namespace goro::detail
