// Deadlock detection (the scheduler's essay, runtime/scheduler.cpp,
// "Deadlock detection"): the check that the last processor to go idle runs
// (find_runnable, before it parks), and the last lost machine to see its
// task suspend (leave_lost, scheduler.cpp), both under sched_lock; and the
// report, Go's message and the goroutine list, before the exit.

#include <atomic>

#include "detail/fatal.hpp"
#include "detail/goroutine_dump.hpp"
#include "detail/scheduler_internal.hpp"
#include "detail/scheduler_state.hpp"
#include "detail/signal_watch.hpp"

namespace goro::detail {

namespace {

[[noreturn]] void report_deadlock(runtime_state& rt) noexcept {
    // Under sched_lock (check_deadlock_locked): the dump must not take it.
    fatal_exit("fatal error: all goroutines are asleep - deadlock!\n" +
               describe_goroutines(rt, true, /*sched_lock_held=*/true));
}

}  // namespace

// Called with sched_lock held by the last processor going idle.
void check_deadlock_locked(runtime_state& rt) noexcept {
    GORO_ASSERT(rt.sched_lock.held_by_current_thread());
    if (!rt.opts.detect_deadlock || rt.stopping.load(std::memory_order_relaxed)) return;
    if (rt.npidle.load(std::memory_order_relaxed) != rt.nprocs) return;
    // A task runs on a thread whose processor was handed off: it may still
    // ready others (leave_lost checks again when it suspends).
    if (rt.nlost.load(std::memory_order_seq_cst) != 0) return;
    if (rt.global_head) return;
    if (rt.blocking_in_flight.load(std::memory_order_acquire) != 0) return;
    // A goro::signal watch: a signal may still come and wake a task (Go does
    // not report either while os/signal waits for signals).
    if (signal_watch_active()) return;
    for (auto& p : rt.procs) {
        if (p->timers.next_deadline() != timer_heap::k_never) return;
        if (p->netpoll->in_flight() != 0) return;
        if (!p->deque.empty_hint() || runnext_holds(p->runnext.load(std::memory_order_relaxed))) return;
    }
    report_deadlock(rt);
}

}  // namespace goro::detail
