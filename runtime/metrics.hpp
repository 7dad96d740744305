// goro::metrics — a snapshot of the runtime's counters, named after Go's
// runtime/metrics where Go has the figure (Go → goro in README.md).
//
//     auto m = goro::metrics();
//     std::printf("%llu tasks live, p50 scheduling latency %.0f ns\n",
//                 (unsigned long long)m.goroutines, m.sched_latency.quantile_ns(0.5));
//     for (auto& [name, value] : m.by_name()) ...   // "/sched/goroutines:goroutines", ...
//
// Callable from a task or any thread while a runtime runs. The counters are
// per processor, written only by the processor itself on cache lines of
// their own (runtime/detail/processor_stats.hpp), and read racily: figures
// taken while tasks run are each exact at some moment, not all at the same
// one. Counting costs the scheduler a few plain stores on its own lines
// (benchmarks/RESULTS.md has the A/B).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace goro {

/// One processor's counters since the run started.
struct processor_metrics {
    std::uint64_t runs = 0;          // tasks resumed by its scheduling loop (in-place joins not counted)
    std::uint64_t created = 0;       // tasks started on it (goro::go, spawn, group::go)
    std::uint64_t finished = 0;      // tasks that returned on it
    std::uint64_t steals = 0;        // tasks it took from other processors
    std::uint64_t stolen = 0;        // tasks other processors took from it
    std::uint64_t parks = 0;         // times it slept with nothing to run
    std::uint64_t polls = 0;         // non-blocking polls of its I/O driver
    std::uint64_t global_taken = 0;  // tasks it took from the global run queue
    std::uint64_t timers_fired = 0;  // timers (sleeps, deadlines, tickers) it fired
};

/// Scheduling latency: from a parked task becoming runnable (readied) to a
/// processor resuming it. Sampled: the first ready after every 976th
/// run of a processor is timed (about one ready in 976 where tasks ready
/// each other in turn), wherever the task then runs (stolen included);
/// starts are not timed.
/// Bucket i holds latencies below upper_ns(i).
struct latency_histogram {
    std::vector<std::uint64_t> counts;
    static double upper_ns(std::size_t bucket) noexcept;
    std::uint64_t samples() const noexcept;
    /// The upper bound of the bucket holding quantile q (0..1); 0 with no samples.
    double quantile_ns(double q) const noexcept;
};

struct runtime_metrics {
    std::uint64_t goroutines = 0;           // /sched/goroutines:goroutines (live)
    std::uint64_t goroutines_created = 0;   // /sched/goroutines-created:goroutines
    std::uint64_t goroutines_finished = 0;  // tasks that returned (counted where each returns)
    unsigned procs = 0;                     // /sched/gomaxprocs:threads
    std::uint64_t global_queue = 0;         // tasks in the global run queue
    std::uint64_t io_in_flight = 0;         // I/O operations the netpoller holds
    unsigned threads = 0;                   // /sched/threads/total:threads: processors, pool, spares
    unsigned spare_threads = 0;             // threads made for hand-offs (runtime/handoff.cpp)
    unsigned lost_threads = 0;              // of those and the processors' own: running a task
                                            // whose processor was handed off
    std::uint64_t handoffs = 0;             // processors the monitor handed to a spare thread
    std::uint64_t handoffs_refused = 0;     // stalls seen at max_threads: no spare thread to be had
    std::uint64_t handoffs_early = 0;       // of handoffs: before a full slice, because I/O or a timer came
    unsigned blocking_threads = 0;          // blocking-pool threads
    unsigned blocking_busy = 0;             // of which running a job
    unsigned blocking_idle = 0;             // of which waiting for one
    std::uint64_t blocking_queued = 0;      // jobs waiting for a thread
    std::vector<processor_metrics> processors;
    latency_histogram sched_latency;        // /sched/latencies:seconds (sampled)

    /// The scalar figures by name: Go's runtime/metrics names where Go has
    /// the figure, "/goro/..." names otherwise.
    std::vector<std::pair<std::string, double>> by_name() const;
};

/// A snapshot. Throws goro::no_runtime when no runtime runs.
runtime_metrics metrics();

}  // namespace goro
