// processor_stats — one processor's counters for goro::metrics()
// (runtime/metrics.hpp): what it ran, stole, parked, polled, took from the
// global queue and fired, and a sampled histogram of scheduling latency.
//
// Cost model: each counter is written only by the processor's own thread
// (a relaxed load and store, no locked instruction), on cache lines of their
// own (the struct is aligned to a line and nothing else lives there), so
// counting dirties no line that another thread writes. Readers
// (goro::metrics) load them relaxed, racily: a snapshot. The exceptions
// are `stolen`, which thieves add to (a relaxed fetch_add per steal batch,
// on its own line: a steal already writes the victim's deque), and the
// latency histogram, which the latency probe adds to from whichever thread
// runs the sampled goroutine (a relaxed load and store, once a sample: one
// sample in flight at a time, each ordered before the next).
//
// The ready hooks (issue 15: a ready pays nothing for them when nobody
// asks). A ready is noted (its latency timed, or traced) only when its
// processor has armed a hook in a word that the ready tests anyway:
//  - ready() (into the run-next slot): processor::runnext holds
//    runnext_hook() instead of null. ready() displaces the mark as it
//    would a goroutine, and its branch for a displaced goroutine tells the
//    two apart; its common path (runnext empty) is the load, store, test
//    and branch it was without hooks.
//  - ready_local() (onto the deque): processor::netpoll_readied holds
//    k_netpoll_idle_hooked instead of k_netpoll_idle, a word that
//    ready_local tests anyway (for the netpoll reap's count);
//    processor::local_hook keeps the arm through a reap.
// The hooked ready's slow half is note_hooked_ready (runtime/metrics.cpp).
// Starts are never timed; their trace test is start_on's (goroutine_lifecycle.cpp).
// Nor are yields (ready_later tests neither word; it was never noted).
//
// Arming, for the latency sample: the scheduling loop arms both hooks in
// one of k_sample_intervals of its fairness intervals (every
// k_fairness_interval = 61 runs, scheduler.cpp: a branch that every
// round tests already, so the count costs the loop nothing a round): once
// in k_latency_sample_every runs. The first hook to fire disarms the
// other: one arm, at most one sample. A program that readies about once a
// run (a goroutine runs, readies another and parks: every channel
// hand-off) has one ready in k_latency_sample_every timed; one that
// readies less often a larger share, but never more than one sample in
// k_latency_sample_every runs, so a sample's cost stays bounded per run;
// one that readies many times a run a smaller share.
//
// The sample: note_hooked_ready reads the clock and puts a probe in the
// goroutine's resume_point: a small coroutine of its own, which holds the
// goroutine's real resume point. Whoever runs the goroutine next (this
// processor's loop, or a thief's) resumes the probe instead; the probe
// reads the clock, adds the latency to the histogram and transfers to the
// real resume point (symmetric transfer: the goroutine runs
// on the same stack, as if resumed directly). So the loop tests nothing for
// the sample on each run (it compared every goroutine it ran with the
// sampled one: 2 instructions a run), and a sample is timed wherever its
// goroutine runs (no expiry for a goroutine that was stolen). One probe
// per processor, made at its first sample and suspended between samples
// (`probe_frame`: a sample builds no frame), so one sample in flight
// (`probe_in_flight`); a hooked ready while one is in flight takes no
// sample. Only readies are timed, not starts: a started goroutine
// may be run in place by its joiner (run_in_place), a path that this file
// does not own; a readied goroutine is resumed only through its
// resume_point.
//
// Tracing: every ready and start is recorded. start_tracing arms both
// hooks for good: the traced loop puts runnext_hook() back whenever a
// round leaves runnext empty (worker_loop_as, scheduler.cpp), a hooked
// ready does not disarm while tracing, and ready()'s branch for a
// displaced goroutine tests the trace (the one ready it cannot hook: the
// slot held a goroutine). One traced ready in k_latency_sample_every
// (readies_to_sample) is timed as well.
//
// Rejected: a countdown of readies (what this replaced: a decrement and a
// branch on every ready and start, 4 of the 18.5 instructions that the
// hooks cost a pingpong round trip); arming by time (the monitor or the
// fairness tick sets a "sample" flag every few ms): the count of samples
// would depend on the machine's speed (a short run gets none, and
// tests/metrics_test.cpp could not count them), and the ready would still
// test the flag unless it lived in one of the words above.
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <coroutine>
#include <cstdint>
#include <type_traits>

#include "sanitizers.hpp"

namespace goro::detail {

struct goroutine;
struct processor;
struct trace_buffer;

// The execution trace's hooks (runtime/trace.cpp), called only while this
// processor traces (processor_stats::trace set).
void trace_ready(trace_buffer& t, goroutine* g) noexcept;
void trace_spawn(trace_buffer& t, goroutine* g) noexcept;
void trace_run_begin(trace_buffer& t, goroutine* g) noexcept;
void trace_run_end(trace_buffer& t) noexcept;
void trace_steal(trace_buffer& t, unsigned victim, std::uint64_t n) noexcept;

#if GORO_TSAN
#define GORO_STAT_PORTABLE 1
#endif

/// Owner only: c += n, for a 64-bit counter whose owner is its only
/// writer and which other threads read racily (relaxed loads). That is a
/// relaxed load and store; compilers do not fuse those on an atomic into
/// one add, so on x86-64 it is written as the one instruction it amounts
/// to there (`add` to memory, no lock prefix: its store is a single
/// aligned 8-byte write, which a racing relaxed load sees whole, as it
/// would the store). 3 instructions -> 1: the run loop's counters (issue
/// 15), and a processor's live count and schedtick on every start, finish
/// and in-place run (issue 14). No memory clobber: like the relaxed store
/// it stands for, it orders nothing around it. Under TSan, and elsewhere,
/// the portable form, which TSan sees.
template <typename T>
    requires(sizeof(T) == 8 && std::is_integral_v<T>)
inline void owner_add(std::atomic<T>& c, T n) noexcept {
#if defined(__x86_64__) && !defined(GORO_STAT_PORTABLE)
    static_assert(std::atomic<T>::is_always_lock_free);
    asm volatile("addq %1, %0" : "+m"(c) : "er"(n));
#else
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
#endif
}

/// owner_add that publishes: the sum is stored with release order (on
/// x86-64 every store is a release store, and the memory clobber keeps the
/// compiler from moving memory accesses across it either way, as an
/// acquire-release fence would). For processor::transit_epoch (the in-place
/// join's take, in_place_join.cpp): its odd value must be stored before
/// the removal that follows, its even value after the arrival.
template <typename T>
    requires(sizeof(T) == 8 && std::is_integral_v<T>)
inline void owner_add_release(std::atomic<T>& c, T n) noexcept {
#if defined(__x86_64__) && !defined(GORO_STAT_PORTABLE)
    static_assert(std::atomic<T>::is_always_lock_free);
    asm volatile("addq %1, %0" : "+m"(c) : "er"(n) : "memory");
#else
    std::atomic_signal_fence(std::memory_order_seq_cst);
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_release);
    std::atomic_signal_fence(std::memory_order_seq_cst);
#endif
}

/// A processor_stats counter: owner_add, by 1 unless told.
inline void stat_add(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) noexcept { owner_add(c, n); }

struct alignas(64) processor_stats {
    // Scheduling-latency histogram: bucket i counts latencies below
    // 2^(i + k_latency_shift) ns (the last one: everything longer).
    static constexpr unsigned k_latency_buckets = 24;
    static constexpr unsigned k_latency_shift = 7;  // 128 ns .. about 1 s
    // The loop arms the ready hooks in one fairness interval in this many
    // (see the top of this file).
    static constexpr std::uint32_t k_sample_intervals = 16;
    // So one run in this many arms them (k_fairness_interval, 61, times
    // k_sample_intervals; scheduler.cpp checks the product). A sample costs
    // about 150 instructions and two clock reads (clock_gettime: 32 ns
    // each on the 2-core EPYC VM, where the whole sample cost about 100 ns):
    // at 1 in 244 that was 2 % of pingpong (benchmarks/RESULTS.md,
    // 2026-11-30 05:50), at 1 in 976 about 0.5 %. A 10,000-ready
    // ping-pong still gets about 20 samples, a million-ready one 2,000
    // (Go's sampler, 1 transition in 8, takes more and pays more).
    static constexpr std::uint32_t k_latency_sample_every = 61 * k_sample_intervals;

    // (The goroutines resumed by the scheduling loop: processor::runs, the
    // loop's fairness tick, which counts them anyway.)
    // goroutines that returned here. Those started here are not counted
    // apart: they are processor::live_delta + finished (live_delta is
    // started here minus finished here), so a start pays no counter
    // (goro::metrics, runtime/metrics.cpp).
    std::atomic<std::uint64_t> finished{0};
    std::atomic<std::uint64_t> steals{0};        // goroutines taken from other processors
    std::atomic<std::uint64_t> parks{0};         // sleeps in the netpoll (nothing to do)
    std::atomic<std::uint64_t> polls{0};         // non-blocking netpoll polls
    std::atomic<std::uint64_t> global_taken{0};  // goroutines taken from the global queue
    std::atomic<std::uint64_t> timers_fired{0};  // expired timers run here

    // Fairness intervals until the loop next arms the ready hooks
    // (arm_ready_hooks, scheduler.cpp). Owner only.
    std::uint32_t intervals_to_sample = k_sample_intervals;
    // While tracing (every ready hooked): traced readies until the next
    // one is timed. Owner only.
    std::uint32_t readies_to_sample = k_latency_sample_every;

    // This processor's execution-trace buffer, or null when the run is not
    // traced (trace_buffer.hpp). Set before the processor starts, with the
    // ready hooks armed for good (start_tracing below).
    trace_buffer* trace = nullptr;

    // Added to by the latency probe, on whichever thread runs the sampled
    // goroutine: one writer at a time (see probe_in_flight), so a relaxed
    // load and store.
    alignas(64) std::atomic<std::uint64_t> latency[k_latency_buckets]{};
    // The latency probe (its coroutine frame's address), or null before
    // the first sample: made by the owner at its first arm and kept for
    // every later sample (runtime/metrics.cpp). Owner only (the holder of
    // the processor: a hand-off orders it for the next); destroyed with
    // the processor (~processor_stats), wherever it is suspended.
    void* probe_frame = nullptr;
    // A sample is in flight: the probe stands in some goroutine's resume
    // point. Set by the owner when it arms the probe (note_hooked_ready);
    // cleared by the probe when it fires, on whichever thread runs the
    // sampled goroutine (release: its reads of the probe's fields, and its
    // histogram add, happen before the owner's next arming, which loads it
    // with acquire). After the histogram, on a line the owner writes only
    // when it arms.
    std::atomic<bool> probe_in_flight{false};

    // Written by thieves: goroutines other processors took from this one.
    alignas(64) std::atomic<std::uint64_t> stolen{0};

    processor_stats() = default;
    processor_stats(const processor_stats&) = delete;
    processor_stats& operator=(const processor_stats&) = delete;
    // Every thread that could run the probe has stopped (ordered by their
    // join). A probe still in flight (its goroutine never ran again) is
    // suspended as any other.
    ~processor_stats() {
        if (probe_frame) std::coroutine_handle<>::from_address(probe_frame).destroy();
    }
};

// The slow half of a hooked ready (see the top of this file;
// runtime/metrics.cpp): records the ready in the trace, when one is
// recorded, and times it when it is the sample's turn; disarms both hooks
// unless tracing. Owner, before g is published to a queue that a thief
// reads (the probe changes g's resume point).
void note_hooked_ready(processor& p, goroutine* g) noexcept;

/// Before the processor starts: every ready and start is recorded in
/// `buffer` (the runs: the traced loop, scheduler.cpp), the ready hooks
/// armed for good (runtime/metrics.cpp).
void start_tracing(processor& p, trace_buffer* buffer) noexcept;

/// Owner: the scheduling loop resumes g. `Traced`: this processor records
/// an execution trace (s.trace set). The loop tests s.trace once when it
/// takes the processor and runs the matching instantiation (worker_loop,
/// runtime/scheduler.cpp), so an untraced run's start and end test nothing
/// for the trace. Nothing for the latency sample: a sampled goroutine's
/// resume point is its probe (see the top of this file). Nor for the runs
/// counted in goro::metrics: the loop's fairness tick counts them
/// (processor::runs).
template <bool Traced>
inline void note_run([[maybe_unused]] processor_stats& s, [[maybe_unused]] goroutine* g) noexcept {
    if constexpr (Traced) trace_run_begin(*s.trace, g);
}

/// Owner: the run that note_run began has returned to the loop.
template <bool Traced>
inline void note_run_end(processor_stats& s) noexcept {
    if constexpr (Traced) trace_run_end(*s.trace);
}

/// Owner: g was started here, while tracing (start_on,
/// runtime/goroutine_lifecycle.cpp, tests processor_stats::trace: a start
/// has no ready hook). Started goroutines are counted by
/// processor::live_delta (see processor_stats::finished), not here.
void note_created_traced(processor_stats& s, goroutine* g) noexcept;

/// Owner (`thief`): it took n goroutines from `victim`.
inline void note_steal(processor_stats& thief, processor_stats& victim, unsigned victim_index,
                       std::uint64_t n) noexcept {
    if (n == 0) return;
    stat_add(thief.steals, n);
    victim.stolen.fetch_add(n, std::memory_order_relaxed);
    if (thief.trace) [[unlikely]]
        trace_steal(*thief.trace, victim_index, n);
}

/// The histogram bucket of a latency.
inline unsigned latency_bucket(std::int64_t ns) noexcept {
    const std::uint64_t v = ns > 0 ? static_cast<std::uint64_t>(ns) >> processor_stats::k_latency_shift : 0;
    // The number of halvings that take v to 0, capped at the last bucket.
    return std::min(static_cast<unsigned>(std::bit_width(v)), processor_stats::k_latency_buckets - 1);
}

}  // namespace goro::detail
