// The scheduler: logical processors, work stealing, parking, time slices,
// shutdown. This file holds the design essay and the processors' loop
// (find_runnable, running a goroutine, a machine's life: run_machine); the
// rest of the scheduler, by concern:
//
//   - run_queues.cpp: the global queue, the idle list and waking;
//     stealing.cpp: stealing from the other processors' deques;
//     detail/netpoll_reap.hpp: whom an I/O completion wakes (inline: the
//     loop's own);
//   - machine_threads.cpp: the threads that hold processors, from their
//     start (worker_main, machine_main); deadlock.cpp: deadlock detection;
//   - goroutine_lifecycle.cpp: the calls a task makes: start, ready, the
//     fork-join fast path, finish;
//   - thread_context.cpp: which runtime runs, each thread's context, the
//     foreign-entry protocol;
//   - registry.cpp: the goroutine registry (dumps, metrics, shutdown);
//   - runtime_lifetime.cpp: a run's start-up and shutdown;
//   - sysmon.cpp: the monitor thread (sysmon_stalls.cpp: its stall
//     reports); handoff.cpp: hand-off of a stuck processor;
//     schedtrace.cpp: GORO_DEBUG=schedtrace;
//   - detail/scheduler_state.hpp: the state they share;
//     detail/scheduler_internal.hpp: what only the loop and the task calls
//     share (the thread's context, push_local, wakep).
//
// ## Design
//
// A goroutine (detail::goroutine, embedded in its root task's promise) is
// runnable when it sits in exactly one run queue:
//
//   - a processor's `runnext` slot: the goroutine most recently readied by the
//     goroutine running there (a channel receiver just handed a value, a
//     joiner, ...). It runs next, on the same processor, so a hand-off between
//     two tasks costs no thread switch. The slot belongs to its processor alone
//     (it is not stealable, as Tokio's LIFO slot). A goroutine taken from it
//     inherits the running one's time slice (see "Time slices"), so a pair
//     of tasks that ready each other cannot starve the rest.
//   - a processor's bounded Chase–Lev deque (detail/work_deque.hpp): the owner
//     pushes and pops at the bottom (LIFO, hot in cache: fork-join code runs
//     depth-first), thieves steal at the top (the oldest, usually the biggest
//     piece of work). When it is full, half of it moves to the global queue.
//   - the global queue (FIFO, under sched_lock): overflow, yields, and
//     goroutines readied by threads that are not processors.
//
// ## Finding work (find_runnable), in order
//
//   1. expired timers of this processor fire (they ready goroutines locally);
//   2. every 61st run (processor::runs, Go's schedtick % 61): the
//      netpoll's completions, then the global queue, and
//      the top (oldest end) of the own deque if that item has been waiting
//      there for k_local_starvation_ns (doubling after each such rescue until
//      the deque is next found empty, see k_max_starvation_backoff) — so
//      neither I/O, nor the global queue, nor old local work can starve
//      (counted in runs, not rounds: a round that finds nothing to run
//      looks at the netpoll and the global queue in steps 4-5 anyway);
//   3. runnext, unless the monitor saw the current time slice run out (then
//      runnext waits behind the oldest local item, or the global queue's
//      first), then the own deque;
//   4. the global queue;
//   5. completions of this processor's netpoll (its I/O driver, see
//      detail/netpoll.hpp: io_uring or epoll; queued requests are submitted);
//   6. stealing: a spinning processor steals half of a random victim's deque
//      (one CAS per item, see work_deque.hpp), four rounds over all victims;
//   7. with I/O in flight, steps 1-6 again for a short, adaptive window
//      (detail/poll_spin.hpp): an answer due in microseconds then costs no
//      sleep and cross-CPU wake-up;
//   8. fire the (stealable) timers that other processors left due for a
//      while, as Go's stealWork does (stealing.cpp, "Timers of other
//      processors"), and run what they woke; else park on the processor's
//      own netpoll until a completion, a wake-up or its earliest timer.
//
// Completions that step 5, the 61st run's check or the park reap wake no other
// processor for the first task they ready when this processor goes on to
// run it (see begin_netpoll_reap): as Go's findrunnable runs the first
// goroutine netpoll returned and injects the rest.
//
// Fork-join shortcut (join_handle, go.hpp): a joiner whose child never
// started and still sits among the k_join_search_depth newest items of the
// joiner's own deque takes it out (run_in_place, work_deque::take:
// one exchange, as a pop) and runs it in place, at most k_max_in_place_runs
// times before the next trip through this loop. Joining in spawn order (the
// idiomatic form: child 0 first, under its younger siblings) takes it as
// joining newest-first does.
//
// ## Spinning and parking (the lost-wake-up protocol)
//
// A processor that looks for work to steal is *spinning* (counted in
// nspinning). At most half of the busy processors spin at once
// (2 * nspinning < nprocs - npidle). Parked processors sit in the idle list
// (sched_lock; npidle mirrors its length for lock-free reads).
//
// Making work runnable where other processors could run it calls wakep():
// if some processor is idle and none spins, one idle processor is taken off
// the list, counted as spinning on its behalf (handed_spinning) and woken
// through its netpoll's eventfd. A spinning processor that finds work stops
// spinning and, if it was the last spinner, calls wakep() itself: so while
// work keeps appearing there is always someone looking for it.
//
// Invariant: **if a goroutine is runnable in a place another processor must
// look at, either some processor is spinning, or an idle processor is being
// woken.** The races that could break it, and how they are closed:
//
//   - A spinner gives up (nspinning--) just as another processor pushes work
//     and sees nspinning > 0 (so it skips wakep). The spinner therefore
//     decrements nspinning *before* it re-checks every deque and the global
//     queue one last time (marked "lost-wake-up re-check" below); the pusher
//     pushed before it looked at nspinning. For a push to the pusher's own
//     deque the ordering is not fenced (no fence on the spawn fast path): the
//     worst case is that the pusher, which is running, runs the work itself.
//     fj::all's promotion is the exception: the pusher runs its region on
//     and may not come back to its deque for seconds, so it fences between
//     the push and its wakep, and the parker fences between joining the idle
//     list and its re-check (fork_join.cpp, promote).
//   - Work readied by a thread that is not a processor (blocking pool) goes to
//     the global queue under sched_lock, and the waker reads nspinning and the
//     idle list under that lock. A parking processor decrements nspinning
//     before it takes sched_lock to re-check the global queue and join the
//     idle list, so one of the two always sees the other.
//   - A wake-up sent to a processor that has not yet blocked in its netpoll
//     is not lost: the eventfd counter stays non-zero, so the next wait
//     returns at once (the ring's armed read completes; epoll sees it ready).
//
// ## Time slices
//
// Go's rule (runqget's inheritTime): a run starts a new time slice unless its
// goroutine came from runnext, in which case it inherits the slice of the run
// before (so does a symmetric transfer: a joiner resumed by the child it
// joined, a child run in place by its joiner). A slice therefore spans a whole chain
// of hand-offs, whatever each turn costs: a pair that burns a millisecond per
// turn and a pair that burns a microsecond get about one slice each in turn
// (item 85, Go's TestPingPongHog). The turn cap this replaced (32 runnext
// picks in a row) gave the first pair a thousand times the second's share.
//
// The processor does not read the clock for this. It counts: schedtick's
// high half gains one at each new slice, its low half at each run the loop
// starts and at each goroutine's finish (see k_tick_run, k_tick_slice). The
// monitor times how long each value lasts and, once a slice has lasted
// options::time_slice (10 ms), stores its number in preempt_slice;
// find_runnable compares the two when it would take runnext.
// A stale mark never matches a later slice, so nothing is cleared. Go's
// sysmon asks the running goroutine to yield at that point; goro cannot
// interrupt a task, so the slice ends at the next hand-off: a task that
// never suspends keeps its thread, and its processor may be handed to
// another one (see "Hand-off").
//
// ## The monitor (sysmon.cpp)
//
// One thread per run, outside the processors and not counted in max_threads
// (Go's sysmon runs without a P and is not counted either). What it watches,
// per processor, every poll: schedtick (a run or slice that lasts) and
// `running` (whether the processor is inside a goroutine). It does two
// things: it ends time slices (above), and, with GORO_DEBUG=stuck=<ms>, it
// reports a goroutine that has run that long without suspending (id, spawn
// site, whether its thread computes or sleeps in a system call) and again
// when it suspends. Polling follows Go's backoff: every 20 µs for the first
// 50 polls after it starts, reports, or wakes for a new busy period, then
// doubling up to 10 ms; once every processor has been idle for a
// millisecond it sleeps on a futex with no timeout and the first processor
// to leave the idle list wakes it (the protocol is in sysmon.cpp), so an
// idle program costs nothing. Its costs on the processors' side: a
// counter increment per run the loop starts and per finished goroutine, a
// compare per runnext pick, and in finish_goroutine a store of `running`.
// The monitor reads a goroutine's fields for a report under the dump's pin,
// which a finish honours anyway (the pin protocol in sysmon.cpp).
// Symmetric transfers (in-place joins) add nothing but the store of
// `running` they always made.
//
// It also hands processors off (next section).
//
// ## Hand-off (handoff.cpp, detail/machine.hpp)
//
// A processor (P) is held by one thread (a machine, Go's M) at a time:
// machine::held names it (processor::owner is the monitor's record). When a run has lasted a time slice on a thread that is
// really stuck in it (its CPU time advances, or it sleeps in the kernel:
// an unwrapped blocking call; not a thread that merely waits for a CPU on
// an overloaded machine, which Go's pre-emption would not help either),
// and something waits that only that P serves (runnext, I/O in flight on
// its netpoll, expired timers) or every P is stuck, the monitor takes the
// P and gives it to a spare thread, which runs its runnext, deque, timers
// and netpoll from then on. A P whose only waiting work is its deque keeps
// its thread while some other P is not stuck: that one steals the deque
// when it runs dry, and a hand-off would cost a thread and send the rest of
// a long spawning loop through the global queue.
//
// The stuck task runs on, on its old thread, until it suspends; meanwhile
// it may spawn, ready, arm timers and start I/O. Task code reaches "its" P
// only inside a processor_scope, an asymmetric Dekker pair: the thread
// stores its in_sched flag, a compiler barrier, loads its held word; the
// monitor CASes held to "taking", calls membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)
// and loads in_sched, backing off if it is set (the scheduler loop keeps it
// set except while a task runs, so only task code can lose its P). The fast
// path costs two plain stores and two loads, all on the thread's own
// machine line (a first version compared processor::owner, on a line that
// wakers write: fib_30 paid 10-16 % for the misses). A thread that finds its P gone
// never touches it again (GORO_ASSERT(holds_processor(p)) in checked
// builds): spawns go to the external registry and the global queue, readies
// to the global queue, a timer to the P's heap (its own lock) with a
// wake-up for the holder, and an I/O start parks the task with a
// trampoline that starts the operation on whichever P runs it next. When
// its task suspends, the thread leaves the lost count (nlost; the deadlock
// check waits for it to be zero, and the last lost thread re-runs it) and
// parks as a spare. Spares are made on demand, kept for the next hand-off,
// and count towards max_threads with the blocking pool's threads (leaving
// the pool one thread while it has none); at the cap there is no hand-off,
// the P waits for its task as before. GORO_DEBUG=handoff=0 turns it off;
// GORO_DEBUG=stuck follows a lost task to its suspension.
//
// The netpoll must follow its P. epoll: any thread may epoll_wait on the
// P's epoll; the owner role moves whole (adopt()). io_uring: rings are
// SINGLE_ISSUER | DEFER_TASKRUN, and the kernel refuses every other thread
// on such a ring (-EEXIST). Plain rings, which any thread may drive, were
// tried first: on a quiet 2-core VM they cost tcp_echo 326k -> 80k
// requests per second at 2 processors (benchmarks/ab.py, no hand-off
// happening: each completion interrupts the submitter with task work).
// So the P's operations move instead (io/detail/poller.hpp, "Hand-off";
// uring_handoff.cpp): the thread that takes the P makes a new ring of its
// own, runs the completions already on the old ring's CQ (plain memory),
// takes back the SQEs the kernel never consumed, and starts every socket
// operation again on the new ring under the deadline it was armed with
// (an accept waits for POLLIN first, a connect in progress for POLLOUT and
// SO_ERROR). Safe because under DEFER_TASKRUN a socket operation's I/O
// happens only in task work that the old thread runs when it enters its
// ring: back from its task, before it parks as a spare, the old thread
// first cancels every moved operation in plain submissions, then drains
// the ring, dropping the moved operations' CQEs by user_data unread, and
// destroys it (these kernel facts were checked with a standalone liburing
// program on Linux 6.18). The fast path is unchanged; against the build
// before it (benchmarks/RESULTS.md, 2026-11-28 20:10): tcp_echo 1.00-1.04
// (ab.py, quiet), http_hello 1.03 (three interleaved wrk runs, loaded),
// idle_conns RSS 1.10 on both drivers (every operation record carries the
// ring's in-flight list pointers, about 110 bytes a connection). Known limits:
// operations that may have run already (file reads and writes, opens,
// fsync: the kernel's workers run them) stay on the old ring and complete
// only when the old thread returns (their tasks then go to the global
// queue); a thread stuck for good keeps its old ring, and with it a
// reference to every socket whose operations moved (closing such a
// socket does not reach its peer until that thread returns); a CQ that
// overflowed before the hand-off moves nothing. GORO_DEBUG=handoff=0 (or
// time_slice 0) turns hand-off off on both drivers.
//
// ## Deadlock detection
//
// The last processor to go idle (npidle == nprocs, under sched_lock) checks
// that nothing could ever make a goroutine runnable again: no timers, no I/O
// in flight, no blocking-pool job, an empty global queue. Idle processors have
// empty queues, and cannot change any of that without taking sched_lock first
// (a woken processor leaves the idle list before running anything). Then the
// program is deadlocked: it prints Go's message and a list of the goroutines
// with what each waits on, and exits with status 2. The monitor changes none
// of this: it never makes a goroutine runnable (it marks slices, prints,
// and moves processors between threads), and it goes to sleep on the same
// "every processor idle". A task that runs on after its processor was
// handed off may still ready others: while one does (nlost > 0) there is
// no report, and the last such thread to see its task suspend runs the
// check again, under sched_lock. Spare threads hold no processor and
// change nothing here.
//
// ## Shutdown
//
// main's completion sets `stopping` and wakes every processor and every
// spare thread. The thread holding each processor leaves its loop, cancels
// the I/O in flight on its netpoll and drains it (the operation records
// live in task frames), and exits; spares exit (a lost thread, once its
// task suspends). The thread that called run() (which held processor 0
// first, and may hold any processor or none by then) joins every other
// thread (join_machines), stops the monitor (after the join, so
// that a task that delays shutdown is still reported), stops the blocking
// pool (waiting for running jobs: their results are written into task
// frames), clears the timer
// heaps and then destroys every goroutine that never finished, so that their
// destructors run and nothing leaks. Goroutines created by those destructors
// are destroyed too.
//
// ## Rejected alternatives
//
//   - A FIFO ring per processor (Go, Tokio) instead of Chase–Lev: fairer for
//     owner pops, but a CAS on every pop; LIFO plus runnext plus the 61-run
//     checks gives the same fairness guarantees for what matters.
//   - Batch "steal half" with one CAS on top: races with the owner's CAS-free
//     pops (see work_deque.hpp).
//   - A futex per processor for parking: it could not also wait for I/O and
//     timers in one system call, which the ring (or epoll_pwait2) does.
//   - For joins in spawn order, a claim word on each task (the joiner claims
//     its child wherever it sits; pop and steal skip claimed entries): the
//     entry left behind points to a frame freed when the join completes, so
//     a thief that read the slot before the claim could read freed (or
//     reused: ABA) memory, and every pop would pay a check of the task. The
//     owner's reservation of its newest items (work_deque::take) touches no
//     task and no other thread's line.
//   - Reading the clock on the processor for time slices (at each new slice,
//     as Go's execute does, and at each runnext pick): a clock_gettime per
//     run where the monitor's polling costs the processors nothing per run.
//   - Publishing the running goroutine's id and spawn site per run for the
//     stall report: two more stores on every run for a rare diagnostic; the
//     pin protocol moves the cost to the report.

#include <fmt/core.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "detail/cgroup_cpu_limit.hpp"
#include "detail/cpu_relax.hpp"
#include "detail/foreign_entry.hpp"
#include "detail/goroutine_dump.hpp"
#include "detail/machine.hpp"
#include "detail/netpoll_reap.hpp"
#include "detail/scheduler_internal.hpp"
#include "detail/scheduler_state.hpp"
#include "detail/sysmon.hpp"
#include "error.hpp"
#include "go.hpp"
#include "run.hpp"
#include "sleep.hpp"

namespace goro::detail {

namespace {

constexpr unsigned k_fairness_interval = 61;
// How long the oldest item of a processor's own deque may wait (the owner's
// LIFO end keeps taking newer work) before the owner runs it out of turn, at
// first. Deliberately a time, not a tick count: in fork-join code the oldest
// item is the root of a big unexplored subtree, and running it early only
// widens the frontier (more live frames and deque entries); measured on
// skynet, a 976-tick rule did that a thousand times per run. 10 ms is Go's
// preemption quantum.
constexpr std::int64_t k_local_starvation_ns = 10'000'000;
// Each rescue of the oldest item doubles the wait before the next one, up to
// k_local_starvation_ns << k_max_starvation_backoff (1.28 s), until the
// processor next finds its deque empty (it caught up: nothing can have
// starved). A fixed 10 ms opened a new subtree a hundred times a second in a
// long fork-join run: skynet 100M (5 s) grew to 650 MB of frames, against
// 5 MB with no rescue (issue 14, item 4); with the backoff a run of T seconds
// opens about log2(T / 10 ms) + T / 1.28 s subtrees. A perpetual producer
// (a chain of tasks each spawning its successor) empties its deque at every
// link, so the first rescue, 10 ms, is the one that applies there.
constexpr unsigned k_max_starvation_backoff = 7;

}  // namespace

// ---------------------------------------------------------------- processor

processor::processor(runtime_state& r, unsigned i)
    : rt(r), index(i), rng(0x9E3779B97F4A7C15ULL * (i + 1) + 12345), goroutines(static_cast<std::uint16_t>(i)),
      next_id(2 * (i + 1)), id_step(2 * std::uint64_t{r.nprocs}) {}

namespace {

// A spinning processor found work: stop spinning and keep the chain going.
void stop_spinning(processor& p) noexcept {
    if (!p.spinning) return;
    p.spinning = false;
    if (p.rt.nspinning.fetch_sub(1, std::memory_order_seq_cst) == 1) wakep(p.rt);
}

}  // namespace

namespace {

// ---- timers and the netpoll (its reaps: detail/netpoll_reap.hpp) ----

// Until p's own earliest timer (-1: none). Other processors' timers are not
// its business here: their owners park with their own deadlines, and one
// busy in a goroutine is seen by a processor on its way to park
// (steal_timers) or handed off by the monitor.
std::int64_t park_timeout_ns(processor& p) noexcept {
    const std::int64_t next = p.timers.next_deadline();
    if (next == timer_heap::k_never) return -1;
    const std::int64_t now = monotonic_now_ns();
    return next > now ? next - now : 0;
}

void run_timers(processor& p) noexcept {
    GORO_ASSERT(holds_processor(p));
    const std::int64_t next = p.timers.next_deadline();
    if (next == timer_heap::k_never) return;
    const std::int64_t now = monotonic_now_ns();
    if (next <= now) stat_add(p.stats.timers_fired, p.timers.run_expired(now));
}

// ---- the work-finding loop ----

// The top of p's deque, if the same item has sat there for k_local_starvation_ns
// (called every k_fairness_interval runs; reads the clock only while the top
// is not moving). Always inlined: with the traced loop's copy of
// find_runnable as a second caller g++ kept it out of line (a call every
// k_fairness_interval runs).
[[gnu::always_inline]] inline goroutine* take_starving_oldest(processor& p) noexcept {
    const std::int64_t top = p.deque.top_hint();
    if (top != p.watched_top || p.deque.empty_hint()) {
        p.watched_top = top;
        p.watched_since_ns = 0;
        return nullptr;
    }
    const std::int64_t now = monotonic_now_ns();
    if (p.watched_since_ns == 0) {
        p.watched_since_ns = now;
        return nullptr;
    }
    if (now - p.watched_since_ns < (k_local_starvation_ns << p.starvation_backoff)) return nullptr;
    p.watched_since_ns = 0;
    if (p.starvation_backoff < k_max_starvation_backoff) ++p.starvation_backoff;
    goroutine* oldest = nullptr;
    const bool began = begin_transit(p);  // registered on its way out (processor::goroutines)
    if (p.deque.steal(oldest) == decltype(p.deque)::steal_result::success) register_if_new(p, oldest);
    end_transit(p, began);
    return oldest;
}

// Empties runnext (holder only; relaxed: see processor::runnext).
goroutine* take_runnext(processor& p) noexcept {
    goroutine* g = p.runnext.load(std::memory_order_relaxed);
    p.runnext.store(nullptr, std::memory_order_relaxed);
    return g;
}

// The time slice that p's monitor saw run out (preempt_slice) is the
// current one (owner only; relaxed: see preempt_slice).
bool slice_expired(const processor& p) noexcept {
    return p.preempt_slice.load(std::memory_order_relaxed) ==
           static_cast<std::uint32_t>(p.schedtick.load(std::memory_order_relaxed) >> 32);
}

// The ready hooks' arming (detail/processor_stats.hpp), in one fairness
// interval in k_sample_intervals: arms ready_local's hook, and ready()'s
// in runnext. A runnext that holds a goroutine (the common case: a
// ready just put it there, and its readier parked) cannot take the mark
// until it is taken, so this takes it, as the round's runnext check would
// have (inheriting the time slice), leaves the mark in its place and
// returns it; the caller then runs it, and the interval's own checks wait
// for the next round. A runnext whose slice the monitor saw expire is
// left to that check (which starts a new slice), and ready()'s hook to
// the next interval. Nothing while tracing: the hooks are armed for good
// (start_tracing). Out of line and cold: once in 976 runs. No `inherit`
// parameter: a reference to the loop's flag would keep it in memory for
// every round (its address escapes); the caller sets it.
[[gnu::noinline, gnu::cold]] goroutine* arm_ready_hooks(processor& p) noexcept {
    static_assert(processor_stats::k_latency_sample_every == k_fairness_interval * processor_stats::k_sample_intervals);
    p.stats.intervals_to_sample = processor_stats::k_sample_intervals;
    if (p.stats.trace) return nullptr;
    // Not in a reap here (find_runnable reaps after its fairness checks).
    p.local_hook = true;
    p.netpoll_readied = k_netpoll_idle_hooked;
    // relaxed: holder only (see processor::runnext).
    goroutine* rn = p.runnext.load(std::memory_order_relaxed);
    if (!rn) {
        p.runnext.store(runnext_hook(), std::memory_order_relaxed);
        return nullptr;
    }
    if (!runnext_holds(rn)) return nullptr;  // armed already
    if (slice_expired(p)) {
        p.stats.intervals_to_sample = 1;
        return nullptr;
    }
    p.runnext.store(runnext_hook(), std::memory_order_relaxed);
    // The caller leaves fairness_due as it is, which sends the next round
    // through this interval's branch again, which counts it again: one
    // more, so that the arms stay k_sample_intervals intervals apart.
    p.stats.intervals_to_sample = processor_stats::k_sample_intervals + 1;
    return rn;
}

// The next goroutine to run, or nullptr when the runtime stops. `inherit`:
// it came from runnext and runs on in the current time slice.
// Inlined into the untraced loop, its one caller on the hot path (the
// traced loop calls find_runnable_cold: with two callers the compiler
// stopped inlining it, which cost pingpong 20 instructions a round trip).
[[gnu::always_inline]] inline goroutine* find_runnable(processor& p, bool& inherit) {
    runtime_state& rt = p.rt;
    inherit = false;
    bool poll_spun = false;  // this call has had its spin before parking
    for (;;) {
        if (rt.stopping.load(std::memory_order_acquire)) return nullptr;
        // A dump re-checks under its lock (goroutine_dump.cpp). acquire: a
        // processor that was parked (counted as stopped) through a dump and
        // reads the flag cleared by restart_the_world's release store runs
        // nothing before the dump's reads of the goroutines.
        if (rt.stop_world.load(std::memory_order_acquire)) [[unlikely]] world_stop_point(rt);

        run_timers(p);

        // Once every k_fairness_interval runs (processor::runs). relaxed:
        // the owner's own count.
        const std::uint64_t runs = p.runs.load(std::memory_order_relaxed);
        if (runs >= p.fairness_due) {
            // The latency sample's arming (arm_ready_hooks), in this branch
            // so that its count costs the rounds between nothing.
            if (--p.stats.intervals_to_sample == 0) [[unlikely]] {
                if (goroutine* g = arm_ready_hooks(p)) {
                    // fairness_due left as it is: the interval's checks
                    // below run next round.
                    inherit = true;  // taken from runnext, in the current slice
                    return g;
                }
            }
            p.fairness_due = runs + k_fairness_interval;
            refresh_wait_clock();  // the parks' stamp (goroutine.hpp)
            // Give the netpoll its turn even when local work never runs out (its
            // completions go to the deque), then the global queue.
            if (p.netpoll->has_work()) poll_netpoll(p, false);
            if (goroutine* g = global_take(p, 1)) return g;
            // The oldest local goroutine, once it has waited too long: the
            // owner's LIFO end alone could postpone it forever.
            if (goroutine* g = take_starving_oldest(p)) return g;
            choose_deque_fences(p);
        }

        if (runnext_holds(p.runnext.load(std::memory_order_relaxed))) {
            // Runnext inherits the time slice (Go's runqget: inheritTime), so
            // that a pair of goroutines handing work back and forth shares
            // one slice, however long each turn is.
            if (!slice_expired(p)) {
                inherit = true;
                return take_runnext(p);
            }
            // The monitor saw this slice run out: the runnext goroutine waits
            // behind the oldest local work (or, with none, the global
            // queue's), which starts a new slice.
            goroutine* g = take_runnext(p);
            goroutine* oldest = nullptr;
            const bool began = begin_transit(p);
            while (p.deque.steal(oldest) == decltype(p.deque)::steal_result::lost_race) {}
            if (oldest) register_if_new(p, oldest);
            end_transit(p, began);
            if (!oldest) oldest = global_take(p, 1);  // registered there
            if (!oldest) return g;  // nobody else waits here: g starts the new slice itself
            push_local(p, g);
            return oldest;
        }
        {
            // A goroutine that never ran is registered on its way out (see
            // processor::goroutines and transit_epoch).
            const bool began = begin_transit(p);
            goroutine* g = p.deque.pop();
            if (g) register_if_new(p, g);
            end_transit(p, began);
            if (g) return g;
        }
        p.starvation_backoff = 0;  // caught up: the next rescue waits 10 ms again

        if (goroutine* g = global_take(p, processor::k_deque_capacity / 2)) return g;

        if (p.netpoll->has_work()) {
            if (poll_netpoll(p, true) > 0) continue;
        }

        // Steal, if not too many are spinning already.
        const unsigned busy = rt.nprocs - rt.npidle.load(std::memory_order_relaxed);
        if (p.spinning || 2 * rt.nspinning.load(std::memory_order_relaxed) < busy) {
            if (!p.spinning) {
                p.spinning = true;
                rt.nspinning.fetch_add(1, std::memory_order_seq_cst);
            }
            if (goroutine* g = steal_work(p)) {
                stop_spinning(p);
                return g;
            }
        }

        // ---- look a while longer before parking, I/O being in flight (poll_spin.hpp) ----
        if (p.netpoll->in_flight() != 0 && rt.poll_spin) {
            const std::int64_t now = monotonic_now_ns();
            if (!poll_spun) {
                poll_spun = true;
                p.spin.begin(now);
            }
            if (p.spin.keep_going(now)) {
                cpu_relax();
                continue;
            }
        }

        // ---- park ----
        // First the other processors' due timers (Go's stealWork runs
        // them; stealing.cpp, "Timers of other processors"): what they
        // woke is in p's queues now.
        if (steal_timers(p)) continue;
        const bool was_spinning = p.spinning;
        if (p.spinning) {
            p.spinning = false;
            // seq_cst: ordered before the re-checks below (store-load race with pushers).
            rt.nspinning.fetch_sub(1, std::memory_order_seq_cst);
        }
        {
            // A transit if it takes a goroutine (see global_take_slow).
            const bool began = begin_transit(p);
            std::unique_lock guard(rt.sched_lock);
            if (rt.stopping.load(std::memory_order_relaxed)) {
                guard.unlock();
                end_transit(p, began);
                return nullptr;
            }
            if (goroutine* g = global_pop_locked(rt)) {
                guard.unlock();
                register_if_new(p, g);
                end_transit(p, began);
                stat_add(p.stats.global_taken);
                if (was_spinning) wakep(rt);
                return g;
            }
            end_transit(p, began);
            p.idle = true;
            p.idle_next = rt.idle_head;
            rt.idle_head = &p;
            rt.npidle.store(rt.npidle.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
            check_deadlock_locked(rt);
        }
        // seq_cst fence: the idle-list entry (npidle) is ordered before the
        // re-check's loads, as a fenced pusher orders its push before its
        // loads of nspinning and npidle (fork_join.cpp's promote): one of
        // the two sees the other. Without it the entry could sit in the
        // store buffer while the re-check read the deques.
        if (was_spinning) store_load_fence();
        if (was_spinning && any_deque_nonempty(rt)) {
            // Lost-wake-up re-check: someone may have pushed work while we were
            // counted as spinning, and skipped waking anyone because of it.
            {
                std::lock_guard guard(rt.sched_lock);
                if (p.idle) {
                    remove_idle_locked(rt, p);
                    rt.nspinning.fetch_add(1, std::memory_order_seq_cst);
                } else {
                    // A waker took us off the idle list meanwhile and already
                    // counted us in nspinning (handed_spinning): take that count
                    // over instead of adding a second one, which would leak and
                    // make every later waker believe someone is spinning.
                    GORO_SCHED_ASSERT(p.handed_spinning);
                    p.handed_spinning = false;
                }
            }
            sysmon_kick(rt);  // we left the idle list: the monitor may sleep on "all idle"
            p.spinning = true;
            continue;
        }

        stat_add(p.stats.parks);
        begin_netpoll_reap(p);
        p.netpoll->park(park_timeout_ns(p));
        refresh_wait_clock();  // it may have slept long (goroutine.hpp)
        // release: pairs with the acq_rel exchange in notify(), so a waker
        // that sees the flag clear also sees what this processor did before
        // (relaxed would do for the flag itself: the exchange is an RMW and
        // reads this store or a later one).
        p.wake_pending.store(false, std::memory_order_release);
        {
            std::lock_guard guard(rt.sched_lock);
            if (p.idle) {
                remove_idle_locked(rt, p);  // woken by a timer or I/O, not by wakep()
            } else if (p.handed_spinning) {
                p.handed_spinning = false;
                p.spinning = true;  // wakep() counted us in nspinning
            }
        }
        sysmon_kick(rt);  // we left the idle list: the monitor may sleep on "all idle"
        // Off the idle list now, so a wakep for the reap's extra tasks
        // cannot pick this processor itself.
        end_netpoll_reap(p, true);
    }
}

// One run of g: the loop's body. `Traced`: p records an execution trace
// (p.stats.trace set; fixed while this thread holds p). `inherit`: g runs
// on in the current time slice (it came from runnext); otherwise its run
// starts a new slice. False when p was handed off while g ran.
template <bool Traced>
[[gnu::always_inline]] inline bool run_goroutine(processor& p, machine& m, goroutine* g, bool inherit) noexcept {
    GORO_ASSERT(holds_processor(p));
    p.in_place_runs = 0;  // a fresh native stack below this resume
    advance_schedtick(p, inherit ? k_tick_run : k_tick_run + k_tick_slice);
    // release: publishes g's fields (acquired by the pop that found it) to
    // the monitor, which acquires `running` before it reads them.
    p.running.store(g, std::memory_order_release);
    g->wait_reason.store(nullptr, std::memory_order_relaxed);
    owner_add(p.runs, std::uint64_t{1});  // the fairness tick, and goro::metrics' runs
    note_run<Traced>(p.stats, g);
    // Task code from here on: the monitor may hand p off (detail/machine.hpp).
    // release: everything the loop did to p happens before a hand-off.
    m.in_sched.store(false, std::memory_order_release);
    GORO_ASSERT(t_ctx.fj_top == nullptr);
    t_ctx.g = g;
    g->resume_point.resume();
    t_ctx.g = nullptr;
    // It suspended or finished: no region of its is left on the chain
    // (detail/fork_join_region.hpp).
    GORO_ASSERT(t_ctx.fj_top == nullptr);
    // Back in scheduler code: a processor_scope's entry (machine.hpp), kept
    // until the next run's release store above.
    if (!enter_processor_fast(&p, &m) && !enter_processor_slow(&p, &m)) [[unlikely]] {
        m.in_sched.store(true, std::memory_order_relaxed);  // a spare is not in task code
        // p's stats and trace buffer belong to its new holder: the run's
        // slice ends on this thread's own track.
        trace_lost_run(p.rt, m.tid.load(std::memory_order_relaxed));
        return false;
    }
    note_run_end<Traced>(p.stats);
    // relaxed: a null is never dereferenced.
    p.running.store(nullptr, std::memory_order_relaxed);
    return true;
}

// find_runnable for the traced loop, which is cold.
[[gnu::noinline, gnu::cold]] goroutine* find_runnable_cold(processor& p, bool& inherit) {
    return find_runnable(p, inherit);
}

// Runs p until the runtime stops (true: p's netpoll is drained) or p is
// handed off (false). `Traced`: as run_goroutine.
template <bool Traced>
[[gnu::always_inline]] inline bool worker_loop_as(processor& p, machine& m) {
    bool inherit = false;
    while (goroutine* g = Traced ? find_runnable_cold(p, inherit) : find_runnable(p, inherit)) {
        // A processor woken to spin (handed_spinning) may find work in its own
        // queues or the global queue rather than by stealing: it must leave the
        // spinning count before running it, or wakers would keep believing that
        // someone is looking for work (and, if it was the last spinner, pass
        // the role on: stop_spinning() calls wakep()).
        stop_spinning(p);
        // Tracing: runnext is never left empty while a ready may come, so
        // that every ready() is hooked (detail/processor_stats.hpp): only
        // find_runnable's take empties it, and returns at once. relaxed:
        // holder only (see processor::runnext).
        if constexpr (Traced) {
            if (!p.runnext.load(std::memory_order_relaxed)) p.runnext.store(runnext_hook(), std::memory_order_relaxed);
        }
        // `inherit`: g runs on in the current time slice (it came from
        // runnext); otherwise its run starts a new slice. False when p was
        // handed off while g ran: p must not be touched again.
        if (!run_goroutine<Traced>(p, m, g, inherit)) return false;
    }
    world_exit_point(p.rt);  // runs no goroutine again: counts as stopped for dumps
    // Stopping: cancel and drain this netpoll's I/O; its records live in task frames.
    p.netpoll->cancel_all_and_drain();
    return true;
}

// The traced loop: out of line and cold, so that the untraced one keeps its
// layout and tests nothing for the trace a run (the cost of seeing inside
// when nobody looks: issue 15).
[[gnu::noinline, gnu::cold]] bool worker_loop_traced(processor& p, machine& m) {
    return worker_loop_as<true>(p, m);
}

// The untraced loop: out of line as well, so that it is a function of its
// own, whose registers nothing else competes for. Inlined into worker_loop
// (and so into run_machine, with the hand-off code around it) the test
// and call for the traced loop cost its hot path a register: two spills
// and reloads a run, 3.8 instructions a pingpong round trip (issue 15).
[[gnu::noinline]] bool worker_loop_untraced(processor& p, machine& m) {
    return worker_loop_as<false>(p, m);
}

// Runs p until the runtime stops or p is handed off (see worker_loop_as).
// The trace is tested once here, not once a run: p.stats.trace is set
// before p's first run and kept until after its last (start_tracing,
// trace_finish), so it cannot change while this thread holds p.
bool worker_loop(processor& p, machine& m) {
    if (p.stats.trace) [[unlikely]]
        return worker_loop_traced(p, m);
    return worker_loop_untraced(p, m);
}

// m's processor was handed off and its task has suspended: m holds nothing
// now. Counted out of nlost under sched_lock, after everything the task
// readied is queued; the last lost machine to go runs the deadlock check
// that the last processor to go idle skipped while it ran.
void leave_lost(runtime_state& rt, machine& m) noexcept {
    t_ctx.p = nullptr;
    std::lock_guard guard(rt.sched_lock);
    GORO_SCHED_ASSERT(m.lost);
    m.lost = false;
    m.lost_g.store(nullptr, std::memory_order_relaxed);
    if (rt.nlost.fetch_sub(1, std::memory_order_seq_cst) == 1) check_deadlock_locked(rt);
}

}  // namespace

// The life of machine m from the moment it holds p: runs it; when p is handed
// off, waits as a spare for another processor; until the runtime stops.
void run_machine(runtime_state& rt, machine& m, processor* p, bool adopt) {
    while (p) {
        t_ctx.p = p;
        if (adopt) {
            // A hand-off: the owner-only records follow the processor.
            p->deque.bind_owner();
            p->netpoll->adopt();
            hand_over_orphan(m, *p->netpoll);
            // relaxed: as in worker_main.
            p->thread_id.store(static_cast<int>(::gettid()), std::memory_order_relaxed);
        }
        if (worker_loop(*p, m)) {
            t_ctx.p = nullptr;
            return;  // stopping
        }
        t_ctx.p = nullptr;  // p is the new holder's
        retire_orphan(m);
        leave_lost(rt, m);
        p = wait_as_spare(rt, m);
        adopt = true;
    }
}

}  // namespace goro::detail
