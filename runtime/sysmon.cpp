// The monitor thread (Go's sysmon). What it is for is in the scheduler's
// essay (runtime/scheduler.cpp, "The monitor" and "Hand-off"); this file
// holds its protocols, and decides when to hand a processor off (poll,
// worth_handing_off, thread_stuck; the hand-off itself is handoff.cpp).
// The stall reports of GORO_DEBUG=stuck, and the watch on a task that runs
// on after its processor was handed off, are in sysmon_stalls.cpp; the
// state the two files share (sysmon::impl) is detail/sysmon_impl.hpp.
//
// ## What it reads, and who reads the clock
//
// Each processor counts (scheduler_state.hpp): `schedtick` gains one in its
// low half when its loop starts a run or a goroutine finishes, and one in
// its high half when a run starts a new time slice; `running` names the
// goroutine being resumed (a symmetric transfer changes it, not the count).
// A stall is a low half unchanged while `running` names one goroutine; it
// ends when either moves. The processor never reads the clock for this.
// The monitor keeps, private to its thread, the value of each processor's
// schedtick at its last poll and when each half of it was first seen: a
// half unchanged since T has lasted at least now - T. That is Go's schedtick/schedwhen pair
// (sysmon's retake), with Go's imprecision: a value is first seen up to one
// polling interval after it was set, so durations are lower bounds, and a
// slice ends between one and two polling intervals late.
//
// ## Polling schedule
//
// Go's: a poll every 20 µs for the first 50 polls after the monitor starts,
// acts (reports a stall) or wakes from a sleep of 10 ms or more (a new busy
// period), then the interval doubles up to 10 ms, or to half the stall
// threshold when GORO_DEBUG=stuck asks for less (a stall is then reported
// whenever it lasts one and a half thresholds: it is first seen within half
// a threshold of its start). While a reported stall is open it polls at
// least every millisecond, so that the closing line's total is accurate to
// about a millisecond. A poll costs a relaxed load of each
// processor's counter (the line is the owner's hot line; at 10 ms the misses
// it causes are noise).
//
// With hand-off on, more bounds keep a hand-off from coming late, since a
// stranded processor's connections wait for it (benchmarks/hog.cpp): while
// some processor is busy the interval is at most a quarter of the slice,
// and at most half the early threshold (below) while any processor, busy
// or idle, has I/O in flight or timers set (a new run is first seen at
// most that late; bounded only while some processor was busy, a run that
// began while all were idle between a server's requests was first seen up
// to 10 ms late, and hog's worst round trip doubled);
// while some run has lasted half the early threshold it is at most a
// millisecond, and that poll takes the thread's first CPU sample
// (thread_stuck), so that a hand-off can be decided at the first poll past
// the threshold instead of one interval after it. These cost a poll per
// millisecond or so while a program has I/O or timers pending and is not
// idle for a millisecond at a time,
// one per quarter slice while it only computes, nothing while it is idle
// (every processor idle for a millisecond: the monitor sleeps, see below).
//
// ## Early hand-off
//
// A run that has lasted a full slice is handed off if anything waits that
// only its processor serves (worth_handing_off). From a fifth of the slice
// on (early_ns: 2 ms by default), it is handed off if events have actually
// come for that processor: completions or readiness on its netpoll
// (netpoll_driver::events_waiting, a hint read without consuming anything:
// io_uring's CQ and its IORING_SQ_TASKRUN flag, epoll's ready list) or a
// timer due; from half of that on (1 ms) if the thread sleeps in the
// kernel (a blocking system call, state S or D: it is not merely waiting
// for a CPU, so no CPU sample is needed; Go retakes a P whose system call
// holds work at sysmon's next tick). That is what a client waits for; Go
// serves it from another processor at once, since its netpoller is global. goro's netpollers are
// per processor, so the processor itself moves, as Go's retake moves a P
// whose system call holds work that others cannot take. Waiting only for
// events keeps the price (a spare thread's wake-up and, with io_uring, a
// new ring to which the socket operations move) off runs that merely
// compute. Counted in metrics as handoffs-early.

// ## Sleeping while every processor is idle (lost-wake-up protocol)
//
// When npidle == nprocs at every poll for a millisecond or more, the monitor
// sleeps on the futex sysmon_state, with no timeout, so an idle program
// costs no CPU. (The millisecond, and keeping the polling interval across a
// shorter sleep, stop a program that is idle between frequent short bursts,
// a 1 ms ticker, from making the monitor sleep, be woken and poll fast on
// every burst: it sleeps at most once per millisecond of idleness, and a
// processor pays a FUTEX_WAKE only when it wakes a sleeping monitor.) It
// decides under sched_lock: it re-reads npidle there and stores `asleep`. A processor leaves the idle
// list only under sched_lock (its own park return, or a waker's
// pop_idle_locked), and reads sysmon_state after that section
// (sysmon_kick): if the monitor's section came first, the lock orders its
// store before the read, and the processor wakes it (CAS asleep -> polling,
// then FUTEX_WAKE); if the processor's came first, the monitor sees
// npidle < nprocs and does not sleep. stop() stores `stopping` and wakes it
// from any wait, timed or not, so run() never waits for a polling interval.
//
// ## Reading a running goroutine's fields (the pin protocol)
//
// A stall report names the goroutine (id, spawn site), which lives in its
// frame; the frame may be freed the moment the goroutine finishes. A
// processor does not publish the id and site per run (stores on every run
// for a rare report), and `running` alone proves nothing: the loop clears
// it only after the resume returns, and between a park's publication and
// that store (a thread descheduled there) the goroutine may be run by
// another processor, finish and be freed, under a schedtick of this
// processor that has not moved. (An earlier protocol pinned the goroutine
// in a per-processor word that only a finish on the same processor read:
// TSan caught the monitor reading a frame that a joiner on another
// processor had freed, in a hand-off.) So the monitor reads the fields
// with the dump's protocol (goroutine_dump.hpp, sample_registered_goroutine):
// it pins every registered goroutine (dump_readers, then membarrier(2),
// MEMBARRIER_CMD_PRIVATE_EXPEDITED, as userspace RCU and Folly's
// asymmetric_thread_fence_heavy use it, so that a finishing goroutine pays
// only a compiler barrier and a load) and reads the fields only if the
// goroutine is still in a registry, which a finish leaves before its frame
// may be freed. Then it checks that schedtick and `running` did not move,
// or there is no stall to report. The scan is as long as the registries:
// it runs for reports only. A hand-off records the goroutine pointer alone
// (compared with the old machine's lost_g) and reads its identity the same
// way when it reports. Without membarrier (refused by a seccomp profile) a
// report names the processor but not the goroutine.

#include "detail/sysmon.hpp"
#include "detail/sysmon_impl.hpp"

#include <linux/futex.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "detail/cpu_relax.hpp"
#include "detail/goroutine_dump.hpp"
#include "detail/machine.hpp"
#include "detail/thread_facts.hpp"
#include "detail/timer_heap.hpp"  // monotonic_now_ns
#include "error.hpp"
#include "run.hpp"

namespace goro::detail {
namespace {

constexpr std::int64_t k_min_delay_ns = 20'000;
constexpr std::int64_t k_max_delay_ns = 10'000'000;
constexpr unsigned k_fast_polls = 50;
constexpr std::int64_t k_open_stall_delay_ns = 1'000'000;
constexpr std::int64_t k_idle_before_sleep_ns = 1'000'000;

// ---- futex ----

static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t) &&
              std::atomic<std::uint32_t>::is_always_lock_free);

// Waits while `word` holds `expected`, at most timeout_ns (negative: no
// limit). Returns on a wake-up, a timeout, a signal or a changed word.
void futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected, std::int64_t timeout_ns) noexcept {
    timespec ts{};
    ts.tv_sec = static_cast<time_t>(timeout_ns / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(timeout_ns % 1'000'000'000);
    ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAIT_PRIVATE, expected,
              timeout_ns >= 0 ? &ts : nullptr, nullptr, 0);
}

void futex_wake_all(std::atomic<std::uint32_t>& word) noexcept {
    ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
}

}  // namespace

// ---------------------------------------------------------------- the monitor

sysmon::impl::impl(runtime_state& r, const sysmon_settings& s)
    : rt(r), settings(s), nprocs(r.nprocs),
      max_delay_ns(s.stuck_ns > 0 ? std::clamp(s.stuck_ns / 2, k_min_delay_ns, k_max_delay_ns) : k_max_delay_ns),
      early_ns(std::max(s.slice_ns / 5, k_min_delay_ns)),
      watches(r.nprocs) {
    const std::int64_t now = monotonic_now_ns();
    for (watch& w : watches) w.run_seen = w.slice_seen = now;
    if (settings.stuck_ns > 0 || (settings.handoff && settings.slice_ns > 0))
        fence_ok = ::syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
    handoff_ok = fence_ok && settings.handoff && settings.slice_ns > 0;
    // relaxed: the thread's start publishes it.
    rt.sysmon_state.store(k_sysmon_polling, std::memory_order_relaxed);
}

void sysmon::impl::loop() noexcept {
    {
        // Every processor has made its netpoll (or failed to): the
        // hand-off reads them. The lock orders those writes before the
        // monitor's reads; each worker counts itself in `started`,
        // failures included.
        std::unique_lock guard(rt.startup_lock);
        rt.startup_cv.wait(guard, [&] { return rt.started >= nprocs; });
    }
    std::int64_t delay = k_min_delay_ns;
    unsigned quiet = 0;          // polls since the monitor started, acted or woke for a new busy period
    std::int64_t idle_since = 0;  // first poll of the current all-idle stretch (0: some processor busy)
    for (;;) {
        futex_wait(rt.sysmon_state, k_sysmon_polling, delay);
        // relaxed: stop() publishes nothing else through it.
        if (rt.sysmon_state.load(std::memory_order_relaxed) == k_sysmon_stopping) return;
        const std::int64_t now = monotonic_now_ns();
        refresh_wait_clock();  // the parks' stamp, while a task computes long (goroutine.hpp)
        long_run = false;
        serving = false;
        const bool acted = poll(now);
        bool open = false;
        for (const watch& w : watches) open = open || w.stall_open;
        for (const lost_watch& l : lost) open = open || l.reported;
        // A task running on without a processor may be reported yet:
        // no sleeping on "every processor idle" meanwhile.
        const bool watching_lost = settings.stuck_ns > 0 && !lost.empty();
        // relaxed: a hint; sleep_while_idle decides under sched_lock.
        if (open || watching_lost || rt.npidle.load(std::memory_order_relaxed) != nprocs)
            idle_since = 0;
        else if (idle_since == 0)
            idle_since = now;
        if (idle_since != 0 && now - idle_since >= k_idle_before_sleep_ns && sleep_while_idle()) {
            if (rt.sysmon_state.load(std::memory_order_relaxed) == k_sysmon_stopping) return;
            if (monotonic_now_ns() - now >= max_delay_ns) {
                delay = k_min_delay_ns;  // a new busy period: fast polls again
                quiet = 0;
            }
            idle_since = 0;
            continue;
        }
        if (acted) {
            delay = k_min_delay_ns;
            quiet = 0;
        } else if (++quiet > k_fast_polls) {
            delay = std::min(delay * 2, max_delay_ns);
        }
        if (open || long_run) delay = std::min(delay, k_open_stall_delay_ns);
        // relaxed: a hint, as above.
        if (handoff_ok && serving)
            delay = std::min(delay, std::max(early_ns / 2, k_min_delay_ns));
        else if (handoff_ok && rt.npidle.load(std::memory_order_relaxed) != nprocs)
            delay = std::min(delay, std::max(settings.slice_ns / 4, k_min_delay_ns));
    }
}

// Sleeps while every processor is idle (see "Sleeping while every
// processor is idle"). False if some processor was busy after all.
bool sysmon::impl::sleep_while_idle() noexcept {
    {
        std::lock_guard guard(rt.sched_lock);
        if (rt.npidle.load(std::memory_order_relaxed) != nprocs) return false;
        std::uint32_t expected = k_sysmon_polling;
        // relaxed: under sched_lock, whose release orders it before a
        // processor's later section (it reads the word after that).
        // Fails only when stop() stored stopping.
        if (!rt.sysmon_state.compare_exchange_strong(expected, k_sysmon_asleep, std::memory_order_relaxed))
            return true;
    }
    // relaxed: the word is the whole message (polling or stopping).
    while (rt.sysmon_state.load(std::memory_order_relaxed) == k_sysmon_asleep)
        futex_wait(rt.sysmon_state, k_sysmon_asleep, -1);
    // Watches restart: time spent asleep was nobody's run.
    const std::int64_t now = monotonic_now_ns();
    for (std::size_t i = 0; i < nprocs; ++i) {
        watch& w = watches[i];
        w.tick = rt.procs[i]->schedtick.load(std::memory_order_relaxed);
        w.run_seen = w.slice_seen = now;
        w.slice_marked = false;
        sample_run_cpu(*rt.procs[i], w);
    }
    return true;
}

// One look at every processor. True when it reported something.
bool sysmon::impl::poll(std::int64_t now) {
    bool acted = false;
    // Every processor inside a run that has lasted a time slice, on a
    // thread that is really stuck in it (thread_stuck, as of the last
    // poll): nobody is left to steal a stuck one's work.
    all_stuck = true;
    for (unsigned i = 0; i < nprocs && all_stuck; ++i)
        // relaxed: a hint.
        all_stuck = rt.procs[i]->running.load(std::memory_order_relaxed) != nullptr && watches[i].stuck;
    for (unsigned i = 0; i < nprocs; ++i) {
        processor& p = *rt.procs[i];
        watch& w = watches[i];
        // relaxed: only compared with earlier values; nothing is read
        // through it (the pin protocol re-checks it after its fence).
        const std::uint64_t tick = p.schedtick.load(std::memory_order_relaxed);
        if (w.stall_open) {
            // relaxed: compared, not dereferenced.
            if (tick != w.tick || p.running.load(std::memory_order_relaxed) != w.stall_g) {
                close_stall(i, w, now);
                acted = true;
            }
        }
        if (static_cast<std::uint32_t>(tick) != static_cast<std::uint32_t>(w.tick)) {
            w.run_seen = now;
            w.candidate_at = 0;
            w.stuck = false;
            sample_run_cpu(p, w);
        }
        if ((tick >> 32) != (w.tick >> 32)) {
            w.slice_seen = now;
            w.slice_marked = false;
        }
        w.tick = tick;
        if (settings.slice_ns > 0 && !w.slice_marked && now - w.slice_seen >= settings.slice_ns) {
            // relaxed: a hint the owner reads at its next runnext pick; a
            // slice that ended meanwhile has another number.
            p.preempt_slice.store(static_cast<std::uint32_t>(tick >> 32), std::memory_order_relaxed);
            w.slice_marked = true;
        }
        if (settings.stuck_ns > 0 && !w.stall_open && now - w.run_seen >= settings.stuck_ns)
            acted = report_stall(i, p, w, tick, now) || acted;
        // Hand-off (runtime/handoff.cpp): one run has held p for a time
        // slice. As Go's retake of a P whose syscall has lasted that
        // long, whatever p has queued: its netpoll and timers may need
        // serving at any moment, and nothing else may serve them.
        // relaxed: a hint; hand_off decides with its own protocol.
        handoff_record rec;
        // relaxed: a hint; the run is only sampled, not acted on.
        const bool running = p.running.load(std::memory_order_relaxed) != nullptr;
        // relaxed: hints (the driver outlives the monitor; timers are
        // read racily by design, timer_heap.hpp).
        if (handoff_ok && !serving)
            serving = (p.netpoll && p.netpoll->in_flight() > 0) ||
                      p.timers.next_deadline() != timer_heap::k_never;
        const std::int64_t ran = now - w.run_seen;
        if (handoff_ok && running && ran >= early_ns / 2) {
            long_run = true;
            // The first CPU sample, half the early threshold in, so that
            // the decision can be made at it (see "Polling schedule").
            if (w.candidate_at == 0 && ran < early_ns) (void)thread_stuck(p, w, now);
        }
        // A full slice: hand off if the thread is really stuck and
        // anything at all waits for p (thread_stuck first: it sets
        // w.stuck, which all_stuck reads at the next poll). From the
        // early threshold on: if events have come that only p can
        // collect (see "Early hand-off"), and the thread is stuck.
        // From half of it on, if events have come and the thread is
        // asleep in the kernel (a blocking system call: it cannot be
        // merely waiting for a CPU, so no CPU sample is needed).
        // relaxed: a hint; hand_off decides with its own protocol.
        const bool full = ran >= settings.slice_ns;
        if (handoff_ok && ran >= early_ns / 2 && p.running.load(std::memory_order_relaxed) != nullptr &&
            (full              ? (w.stuck || thread_stuck(p, w, now)) && worth_handing_off(p)
             : ran >= early_ns ? events_came(p, now) && (w.stuck || thread_stuck(p, w, now))
                               : events_came(p, now) && thread_asleep(p)) &&
            hand_off(rt, p, rec)) {
            if (!full) rt.early_handoffs.fetch_add(1, std::memory_order_relaxed);
            follow_lost(i, w, rec);
            w.run_seen = now;  // the processor's next run is its new thread's
            w.run_cpu = -1;
            acted = true;
        }
    }
    acted = poll_lost(now) || acted;
    return acted;
}

// The CPU time of p's thread as the monitor first sees a run (a system
// call per new run, with GORO_DEBUG=stuck only): a stall's first line
// then tells computing from waiting for a CPU (sysmon_stalls.cpp).
void sysmon::impl::sample_run_cpu(const processor& p, watch& w) const noexcept {
    if (settings.stuck_ns <= 0) return;
    // relaxed: written once per holder, before it runs anything; a
    // stale value names the previous holder, and the report then
    // leaves the figure out (run_cpu_words compares the two).
    w.run_tid = p.thread_id.load(std::memory_order_relaxed);
    w.run_cpu = thread_cpu_ns(w.run_tid);
}

// Whether p, whose run has lasted a time slice, needs another thread
// now: something waits that only p may serve (runnext, I/O in flight on
// its netpoll, expired timers), or every processor is stuck (nobody
// will steal p's deque or take from the global queue). p's deque alone
// does not count while some processor is not stuck: that one steals it
// when it runs dry. So a task that spawns for a while, with other
// processors running what it spawns, keeps its processor: a hand-off
// would send the rest of its spawns through the global queue and add a
// thread competing with the processors for the CPUs. All reads
// relaxed: hints.
bool sysmon::impl::worth_handing_off(processor& p) const noexcept {
    if (all_stuck || runnext_holds(p.runnext.load(std::memory_order_relaxed))) return true;
    if (p.netpoll && p.netpoll->in_flight() > 0) return true;
    return p.timers.next_deadline() <= monotonic_now_ns();
}

// Whether something has come for p that only p can collect, while its
// run has lasted the early threshold: completions or readiness on its
// netpoll, or a timer due. runnext and the deque wait for the slice
// (another processor steals the deque; runnext as before).
bool sysmon::impl::events_came(processor& p, std::int64_t now) const noexcept {
    if (p.timers.next_deadline() <= now) return true;
    return p.netpoll && p.netpoll->in_flight() > 0 && p.netpoll->events_waiting();
}

// Whether p's thread is really stuck in its run, rather than waiting
// for a CPU (an overloaded machine descheduled it: a hand-off would
// only add a thread to the queue for CPUs, and Go's preemption would
// not act either). Stuck: its CPU time advanced for at least a quarter
// of the time since the monitor first saw it as a candidate (it
// computes), or it is asleep in the kernel (a system call). Decided at
// the poll after the first one that saw the candidate; a thread that
// waited for a CPU is looked at again from then on.
bool sysmon::impl::thread_stuck(processor& p, watch& w, std::int64_t now) {
    // relaxed: written once per holder, before it runs anything.
    const int tid = p.thread_id.load(std::memory_order_relaxed);
    const std::int64_t cpu = thread_cpu_ns(tid);
    if (cpu < 0) return w.stuck = true;  // no per-thread clock: trust the run's length
    if (w.candidate_at == 0) {
        w.candidate_at = now;
        w.candidate_cpu = cpu;
        return false;
    }
    if (now > w.candidate_at && 4 * (cpu - w.candidate_cpu) >= now - w.candidate_at) return w.stuck = true;
    if (thread_asleep(p)) return w.stuck = true;
    w.candidate_at = now;
    w.candidate_cpu = cpu;
    return false;
}

// Whether p's thread sleeps in the kernel now (a system call that
// blocks: state S or D in /proc).
bool sysmon::impl::thread_asleep(const processor& p) {
    // relaxed: written once per holder, before it runs anything.
    const char state = thread_state(p.thread_id.load(std::memory_order_relaxed));
    return state == 'S' || state == 'D';
}

sysmon::sysmon(runtime_state& rt, const sysmon_settings& settings)
    : m_impl(std::make_unique<impl>(rt, settings)) {
    impl* self = m_impl.get();
    // The thread starts with every signal blocked (it inherits this mask,
    // restored here right after): a signal sent to the process is then
    // never delivered to the monitor, whose work has nothing to do with it.
    sigset_t all, previous;
    ::sigfillset(&all);
    ::pthread_sigmask(SIG_BLOCK, &all, &previous);
    struct restore_mask {
        const sigset_t* mask;
        ~restore_mask() { ::pthread_sigmask(SIG_SETMASK, mask, nullptr); }
    } restore{&previous};
    m_impl->thread = std::thread([self] { self->loop(); });  // std::system_error: the caller decides
    // Named before run() runs anything (for top -H, gdb, /proc).
    ::pthread_setname_np(m_impl->thread.native_handle(), "goro-sysmon");
}

sysmon::~sysmon() { stop(); }

void sysmon::stop() noexcept {
    if (!m_impl || !m_impl->thread.joinable()) return;
    runtime_state& rt = m_impl->rt;
    // relaxed: the word is the whole message; the join below orders the rest.
    rt.sysmon_state.store(k_sysmon_stopping, std::memory_order_relaxed);
    futex_wake_all(rt.sysmon_state);
    m_impl->thread.join();
    // The workers have stopped (run() joins them first): every open stall
    // is over. Its closing line still belongs on stderr.
    const std::int64_t now = monotonic_now_ns();
    for (unsigned i = 0; i < m_impl->nprocs; ++i)
        if (m_impl->watches[i].stall_open) m_impl->close_stall(i, m_impl->watches[i], now);
    for (auto& l : m_impl->lost) m_impl->close_lost(l, now);
}

void sysmon_wake(runtime_state& rt) noexcept {
    std::uint32_t expected = k_sysmon_asleep;
    // relaxed: the word is the whole message (see "Sleeping while every
    // processor is idle"); a failed CAS means another waker or stop() won.
    if (rt.sysmon_state.compare_exchange_strong(expected, k_sysmon_polling, std::memory_order_relaxed))
        futex_wake_all(rt.sysmon_state);
}

}  // namespace goro::detail
