// stealing — how an idle processor takes work from the others' deques:
// about half of a random victim's deque per steal, four rounds over all
// victims (steal_work), and who pays the store-load fence of the deques'
// asymmetric mode (work_deque.hpp): the thieves, one membarrier(2) per steal
// batch, or, for a deque stolen from often, its owner (choose_deque_fences).
// Also the timers that other processors leave due (steal_timers).
// When a processor steals is find_runnable's business (scheduler.cpp).
//
// ## Timers of other processors
//
// A processor fires its own timers at each pass of its loop and parks until
// its own earliest deadline; but while it runs a goroutine, or its thread
// waits for a CPU or is slow to wake from its park, only it could fire them
// (the monitor hands a processor stuck in a run to another thread, from
// 2 ms on: sysmon.cpp, "Early hand-off"). Go does not wait: an M about to
// block runs every P's due timers (stealWork's checkTimers). goro does the
// same, within what its timers allow: before parking, a processor fires the
// *stealable* timers of every other processor, busy or parked, that have
// been due for k_timer_steal_grace_ns (timer_heap.hpp says which are
// stealable: sleeps and the time package's timers, not the context-bound
// sleep or a select's timeout, which count on their processor). What they
// wake lands in its own queues and it runs it.
//
// Best effort: the heaps' next_deadline is a racy hint, and nothing wakes a
// parked processor for another's timer. Rejected: every idle processor
// parking until the busy processors' earliest deadline (a first version,
// withdrawn: a herd of wake-ups for each timer); one parked processor (a
// "timer watcher", as Go's one M in netpoll sleeps until pollUntil) waking
// when a busy processor's earliest timer has been due for the grace: at 2
// processors it woke for nearly every timer of the other, which had fired
// it already (benchmarks/sleepers' p99 6.9 -> 13.3 ms, medians of 9
// interleaved runs on a noisy machine; at 8 processors on 2 CPUs its
// median looked better, 0.2-0.3 against 1.0-1.4 ms, in too few runs to
// tell); and waking an idle processor at every add_timer (a load and
// maybe a wake-up on the timer's hot path).
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>

#include "detail/fatal.hpp"
#include "detail/scheduler_internal.hpp"
#include "detail/scheduler_state.hpp"
#include "detail/timer_heap.hpp"

namespace goro::detail {

bool register_steal_fence() noexcept {
    return ::syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
}

namespace {

constexpr unsigned k_steal_rounds = 4;

// How long another processor's timer must have been due before this one
// fires it (steal_timers). A processor that runs short goroutines fires its
// own timers within microseconds, on its next pass through its loop: taking
// them from it then only moves the wake-up and its cache lines to another
// CPU (with no grace, 28,000 of the 400,000 timers of benchmarks/sleepers at
// 2 processors were taken; with 100 us, 341). Past the grace the owner is
// late: it runs a long goroutine, its thread waits for a CPU, or it sleeps
// and has not woken yet; then any processor is better.
constexpr std::int64_t k_timer_steal_grace_ns = 100'000;

std::uint64_t next_random(std::uint64_t& state) noexcept {
    // xorshift64*: good enough to pick steal victims.
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return state * 0x2545F4914F6CDD1DULL;
}

// The thieves' heavy fence of the deques' asymmetric mode
// (work_deque.hpp): every running thread of the process executes a full
// barrier. Registered before any worker ran (register_steal_fence), so it
// cannot fail; if it did, a steal could take an item its owner takes too.
void steal_fence() noexcept {
    if (::syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) != 0)
        fatal_exit("fatal error: goro: membarrier(2) failed after registration; cannot steal safely\n");
}

// Steals about half of victim's deque: the first item is returned, the rest
// go into p's deque.
goroutine* steal_from(processor& p, processor& victim) noexcept {
    std::size_t want = (victim.deque.size_hint() + 1) / 2;
    if (want == 0) return nullptr;  // no session, no fence, for an empty deque
    const std::size_t wanted = want;
    // One session, and one heavy fence in the asymmetric mode, for all the
    // steals below (work_deque.hpp).
    decltype(victim.deque)::steal_session session(victim.deque);
    if (session.needs_fence()) steal_fence();
    // The first goroutine is registered here before it runs; the rest wait
    // in p's deque (processor::goroutines, transit_epoch).
    const bool began = begin_transit(p);
    goroutine* first = nullptr;
    while (want > 0) {
        goroutine* g = nullptr;
        auto r = victim.deque.steal(g);
        if (r == decltype(victim.deque)::steal_result::empty) break;
        if (r == decltype(victim.deque)::steal_result::lost_race) continue;
        --want;
        if (!first) {
            first = g;
        } else if (!p.deque.push(g)) {
            push_local(p, g);
            break;
        }
    }
    if (first) register_if_new(p, first);
    end_transit(p, began);
    note_steal(p.stats, victim.stats, victim.index, wanted - want);
    return first;
}

}  // namespace

// Who fences for p's deque in its asymmetric mode (work_deque.hpp), every
// k_fairness_interval ticks: its owner while it is stolen from (every
// steal batch would otherwise cost its thief a membarrier, and the owner
// the interrupt: chan_throughput at 2 processors steals that often), its
// thieves after k_quiet_intervals intervals without a steal (fork-join
// code, whose owners join far more often than anyone steals).
constexpr unsigned k_quiet_intervals = 8;
void choose_deque_fences(processor& p) noexcept {
    // relaxed: a hint; thieves add to it after their steals.
    const std::uint64_t stolen = p.stats.stolen.load(std::memory_order_relaxed);
    if (stolen != p.stolen_seen) {
        p.stolen_seen = stolen;
        p.quiet_intervals = 0;
        p.deque.set_owner_fences(true);
    } else if (p.quiet_intervals < k_quiet_intervals && ++p.quiet_intervals == k_quiet_intervals) {
        p.deque.set_owner_fences(false);
    }
}

goroutine* steal_work(processor& p) noexcept {
    runtime_state& rt = p.rt;
    const unsigned n = rt.nprocs;
    if (n == 1) return nullptr;
    for (unsigned round = 0; round < k_steal_rounds; ++round) {
        const unsigned start = static_cast<unsigned>(next_random(p.rng) % n);
        for (unsigned k = 0; k < n; ++k) {
            processor& victim = *rt.procs[(start + k) % n];
            if (&victim == &p) continue;
            if (goroutine* g = steal_from(p, victim)) return g;
        }
        if (rt.global_size.load(std::memory_order_relaxed) != 0) {
            if (goroutine* g = global_take(p, processor::k_deque_capacity / 2)) return g;
        }
        if (rt.stopping.load(std::memory_order_relaxed)) return nullptr;
    }
    return nullptr;
}

bool steal_timers(processor& p) noexcept {
    runtime_state& rt = p.rt;
    if (rt.nprocs == 1) return false;
    std::int64_t now = 0;  // read once, when some heap has a timer
    unsigned fired = 0;
    for (auto& q : rt.procs) {
        if (q.get() == &p) continue;
        // A hint (relaxed, timer_heap.hpp): steal_expired decides under the
        // heap's lock, and a node is fired by whoever pops it, once.
        const std::int64_t next = q->timers.next_deadline();
        if (next == timer_heap::k_never) continue;
        if (now == 0) now = monotonic_now_ns();
        if (next <= now - k_timer_steal_grace_ns) fired += q->timers.steal_expired(now);
    }
    if (fired != 0) stat_add(p.stats.timers_fired, fired);
    return fired != 0;
}

bool any_deque_nonempty(runtime_state& rt) noexcept {
    for (auto& q : rt.procs)
        if (!q->deque.empty_hint()) return true;
    return rt.global_size.load(std::memory_order_relaxed) != 0;
}

}  // namespace goro::detail
