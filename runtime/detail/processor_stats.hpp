// processor_stats — one processor's counters for goro::metrics()
// (runtime/metrics.hpp): what it ran, stole, parked, polled, took from the
// global queue and fired, and a sampled histogram of scheduling latency.
//
// Cost model: each counter is written only by the processor's own thread
// (a relaxed load and store, no locked instruction), on cache lines of their
// own (the struct is aligned to a line and nothing else lives there), so
// counting dirties no line that another thread writes. Readers
// (goro::metrics) load them relaxed, racily: a snapshot. The one exception
// is `stolen`, which thieves add to (a relaxed fetch_add per steal batch,
// on its own line: a steal already writes the victim's deque).
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstdint>

namespace goro::detail {

struct goroutine;
struct trace_buffer;

// The execution trace's hooks (runtime/trace.cpp), called only while this
// processor traces (processor_stats::trace set).
void trace_ready(trace_buffer& t, goroutine* g) noexcept;
void trace_spawn(trace_buffer& t, goroutine* g) noexcept;
void trace_run_begin(trace_buffer& t, goroutine* g) noexcept;
void trace_run_end(trace_buffer& t) noexcept;
void trace_steal(trace_buffer& t, unsigned victim, std::uint64_t n) noexcept;

#if defined(__SANITIZE_THREAD__)
#define GORO_STAT_PORTABLE 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define GORO_STAT_PORTABLE 1
#endif
#endif

/// Owner only: c += n. The owner is the only writer, so this is a relaxed
/// load and store; compilers do not fuse those on an atomic into one add,
/// so on x86-64 it is written as the one instruction it amounts to there
/// (`add` to memory, no lock prefix: its store is a single aligned 8-byte
/// write, which a racing relaxed load sees whole, as it would the store).
/// 3 instructions -> 1 on the run loop's path (issue 15). Under TSan, and
/// elsewhere, the portable form, which TSan sees.
inline void stat_add(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) noexcept {
#if defined(__x86_64__) && !defined(GORO_STAT_PORTABLE)
    static_assert(sizeof(c) == 8 && std::atomic<std::uint64_t>::is_always_lock_free);
    asm volatile("addq %1, %0" : "+m"(c) : "er"(n));
#else
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
#endif
}

struct alignas(64) processor_stats {
    // Scheduling-latency histogram: bucket i counts latencies below
    // 2^(i + k_latency_shift) ns (the last one: everything longer).
    static constexpr unsigned k_latency_buckets = 24;
    static constexpr unsigned k_latency_shift = 7;  // 128 ns .. about 1 s
    // One ready in this many is timed (note_ready). A sample costs about
    // 100 instructions (two clock reads and the slow halves): at 1 in 64
    // that was 1.7 instructions a ready on pingpong, at 256 it is 0.4
    // (issue 15), and a 10,000-ready run still gets about 40 samples.
    static constexpr std::uint32_t k_latency_sample_every = 256;
    // A sample whose goroutine never ran here (stolen, or run by another
    // processor) is dropped after this long, freeing the slot.
    static constexpr std::int64_t k_latency_sample_expiry_ns = 100'000'000;

    std::atomic<std::uint64_t> runs{0};          // goroutines resumed by the scheduling loop
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

    // The latency sample in progress: the goroutine readied at ready_ns
    // (owner only, plain fields).
    goroutine* sample_g = nullptr;
    std::int64_t sample_ns = 0;
    // Readies (and starts) until the next one takes the slow path
    // (note_ready_slow): k_latency_sample_every while not tracing, 1 while
    // tracing (every ready is then recorded, and readies_to_sample picks
    // the samples). One decrement and branch per ready on the fast path.
    std::uint32_t ready_countdown = k_latency_sample_every;
    std::uint32_t readies_to_sample = k_latency_sample_every;

    // This processor's execution-trace buffer, or null when the run is not
    // traced (trace_buffer.hpp). Set before the processor starts (with
    // ready_countdown = 1: start_tracing below).
    trace_buffer* trace = nullptr;

    alignas(64) std::atomic<std::uint64_t> latency[k_latency_buckets]{};

    // Written by thieves: goroutines other processors took from this one.
    alignas(64) std::atomic<std::uint64_t> stolen{0};
};

// The slow halves (runtime/metrics.cpp). `spawn`: g was started, not readied.
void note_ready_slow(processor_stats& s, goroutine* g, bool spawn) noexcept;
void sample_run_slow(processor_stats& s) noexcept;

/// Before the processor starts: every ready takes the slow path, which
/// records it in `buffer` (the runs: the traced loop, scheduler.cpp).
inline void start_tracing(processor_stats& s, trace_buffer* buffer) noexcept {
    s.trace = buffer;
    s.ready_countdown = 1;
}

/// Owner: g became runnable here (readied). One in k_latency_sample_every
/// is timed (the clock is read only for those); every one is traced while
/// tracing.
inline void note_ready(processor_stats& s, goroutine* g) noexcept {
    if (--s.ready_countdown == 0) [[unlikely]]
        note_ready_slow(s, g, false);
}

/// Owner: the scheduling loop resumes g. `Traced`: this processor records
/// an execution trace (s.trace set). The loop tests s.trace once when it
/// takes the processor and runs the matching instantiation (worker_loop,
/// runtime/scheduler.cpp), so an untraced run's start and end test nothing
/// for the trace.
template <bool Traced>
inline void note_run(processor_stats& s, goroutine* g) noexcept {
    stat_add(s.runs);
    if (g == s.sample_g) [[unlikely]]
        sample_run_slow(s);
    if constexpr (Traced) trace_run_begin(*s.trace, g);
}

/// Owner: the run that note_run began has returned to the loop.
template <bool Traced>
inline void note_run_end(processor_stats& s) noexcept {
    if constexpr (Traced) trace_run_end(*s.trace);
}

/// Owner: g was started here (counted by processor::live_delta, see
/// processor_stats::finished).
inline void note_created(processor_stats& s, goroutine* g) noexcept {
    if (--s.ready_countdown == 0) [[unlikely]]
        note_ready_slow(s, g, true);
}

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
