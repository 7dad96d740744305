// netpoll_reap — whom an I/O completion wakes, while the processors' loop
// (runtime/scheduler.cpp) reaps its netpoll: ready_local
// (goroutine_lifecycle.cpp) counts the completions' readies in
// processor::netpoll_readied instead of waking anyone, and the reap's end
// decides. Inline: find_runnable, the scheduler's hot loop, calls them.
// Internal.
#pragma once

#include <atomic>

#include "invariant.hpp"
#include "machine.hpp"
#include "netpoll.hpp"
#include "processor_stats.hpp"
#include "scheduler_internal.hpp"
#include "scheduler_state.hpp"

namespace goro::detail {

// ---- whom an I/O completion wakes ----
//
// A completion makes its task runnable on the deque of the processor that
// reaped it. While the scheduler reaps, those readies do not call wakep()
// one by one (ready_local counts them in netpoll_readied); the reaper then
// runs the first itself and wakes another processor only for the rest, as
// Go's findrunnable runs the first goroutine that netpoll returned and
// injects the others. A wakep per completion made a strict request/response
// pair pay twice: the woken processor stole the task that its reaper was
// about to run, which split the connection's two ends over two rings, and
// the park's own reap (still listed idle) could pick itself and write its
// own eventfd (io_socket_st with one connection: 9x slower on io_uring
// than with both ends on one processor). Nothing is lost: the reaper is
// awake and goes on to its deque.
// An armed ready hook (processor::local_hook) stays armed through the reap:
// the count replaces its mark in netpoll_readied, and the end puts it back.
inline void begin_netpoll_reap(processor& p) noexcept {
    GORO_ASSERT(holds_processor(p));
    GORO_ASSERT(p.netpoll_readied == (p.local_hook ? k_netpoll_idle_hooked : k_netpoll_idle));
    p.netpoll_readied = 0;
}

// `runs_first`: the reaper's next step is its deque (its queue was empty),
// so the first task readied needs no other processor.
inline void end_netpoll_reap(processor& p, bool runs_first) noexcept {
    const unsigned readied = p.netpoll_readied;
    p.netpoll_readied = p.local_hook ? k_netpoll_idle_hooked : k_netpoll_idle;
    if (readied > (runs_first ? 1u : 0u)) wakep(p.rt);
}

// Submits and reaps without blocking. A reap may consume a wake-up written to
// the eventfd (the armed read completes), so wake_pending must be cleared after
// it: otherwise the flag stays set with no wake-up left in the eventfd, and
// the next notify() (e.g. the one announcing shutdown) would skip its write and
// leave this processor parked forever. Clearing without consuming is harmless
// (the next notify writes again); whatever a notify racing with the clear
// announced is re-checked before parking (stopping and the idle list, under
// sched_lock).
inline unsigned poll_netpoll(processor& p, bool runs_first) noexcept {
    GORO_ASSERT(holds_processor(p));
    begin_netpoll_reap(p);
    const unsigned completed = p.netpoll->poll();
    stat_add(p.stats.polls);
    p.wake_pending.store(false, std::memory_order_release);
    end_netpoll_reap(p, runs_first);
    return completed;
}

}  // namespace goro::detail
