// trace_buffer — one processor's ring of execution-trace events
// (GORO_TRACE, options::trace; the writer is runtime/trace.cpp).
//
// Owner only: the processor's own thread appends (plain stores, no
// atomics); the buffer is read once, after every processor has stopped,
// when the trace is written. A ring: when full, the oldest events are
// overwritten, so a trace holds the last `capacity` events of each
// processor (a bounded trace of the end of the run).
//
// Off, tracing costs a predictable branch on processor_stats::trace (a
// pointer on a line the processor writes anyway) when a thread takes a
// processor (it then runs the untraced instantiation of its loop:
// worker_loop) and at each steal,
// and a test of a bit of the word that each park loads anyway for its wait
// stamp (g_park_word, note_waiting);
// readies are noted through the ready hooks, which tracing arms for good,
// and cost nothing for the trace when off but in ready()'s branch for a
// displaced goroutine (a test of processor_stats::trace there); a start
// tests processor_stats::trace (start_on); see processor_stats.hpp.
#pragma once

#include <cstdint>
#include <vector>

namespace goro::detail {

struct goroutine;

enum class trace_kind : std::uint8_t {
    run,       // a slice: g ran from ts for dur (name: its spawn site)
    spawn,     // g was started by `other` (0: not by a goroutine)
    ready,     // g was made runnable by `other` (0: the scheduler: a timer, I/O)
    park,      // g parked, waiting for `str` (its wait reason)
    steal,     // this processor took `line` goroutines from processor `other`
    blocking,  // a blocking-pool job ran from ts for dur (external buffer)
    lost_run,  // a run whose processor was handed off while it ran, on the
               // thread `other` (its tid) from ts for dur (external buffer)
};

struct trace_event {
    std::int64_t ts = 0;        // ns, CLOCK_MONOTONIC
    std::int64_t dur = 0;       // run, blocking
    std::uint64_t g = 0;        // the goroutine's id
    std::uint64_t other = 0;    // see trace_kind
    const char* str = nullptr;  // run: spawn file; park: reason
    const char* fn = nullptr;   // run: spawning function
    std::uint32_t line = 0;     // run: spawn line; steal: count; blocking: thread number
    trace_kind kind = trace_kind::run;
};

struct trace_buffer {
    explicit trace_buffer(std::size_t capacity) : ring(capacity) {}

    std::vector<trace_event> ring;
    std::size_t next = 0;      // where the next event goes
    std::uint64_t total = 0;   // events ever appended (total > size: the oldest were overwritten)

    // The run in progress (run_goroutine's begin and end).
    trace_event run{};

    void push(const trace_event& e) noexcept {
        ring[next] = e;
        if (++next == ring.size()) next = 0;
        ++total;
    }
};

}  // namespace goro::detail
