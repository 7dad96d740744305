// sysmon_impl — the monitor thread's state (sysmon::impl), internal to the
// monitor's two files: runtime/sysmon.cpp (its protocols, the polling loop
// and the hand-off decisions) and runtime/sysmon_stalls.cpp (the stall
// reports of GORO_DEBUG=stuck, and the tasks that run on after a hand-off).
// Everything here belongs to the monitor's thread (and to the caller of
// stop(), after the join). Internal.
#pragma once

#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "goroutine_dump.hpp"
#include "machine.hpp"
#include "scheduler_state.hpp"
#include "sysmon.hpp"

namespace goro::detail {

struct sysmon::impl {
    // What the monitor remembers of one processor (its thread only; the
    // caller of stop() after the join).
    struct watch {
        std::uint64_t tick = 0;        // schedtick at the last poll
        std::int64_t run_seen = 0;     // when its low half was first seen
        // The thread's CPU time then (-1: unknown, or GORO_DEBUG=stuck
        // off), and which thread that was: a stall report says how much of
        // the run was on a CPU, if the processor is still on that thread.
        std::int64_t run_cpu = -1;
        int run_tid = 0;
        std::int64_t slice_seen = 0;   // when its high half was first seen
        bool slice_marked = false;     // preempt_slice already holds this slice
        // A hand-off candidate (its run has lasted a slice): when it was
        // first seen as one (0: not yet) and its thread's CPU time then.
        std::int64_t candidate_at = 0;
        std::int64_t candidate_cpu = -1;
        bool stuck = false;  // thread_stuck said so for the current run
        // A stall reported and not yet over.
        bool stall_open = false;
        goroutine* stall_g = nullptr;  // compared, never dereferenced once unpinned
        std::string stall_name;        // "goroutine 12", as the first line said it
        std::int64_t stall_cpu = -1;   // the thread's CPU time at the report
        std::int64_t stall_reported_at = 0;
    };

    runtime_state& rt;
    const sysmon_settings settings;
    const unsigned nprocs;
    // The longest polling interval (see "Polling schedule").
    const std::int64_t max_delay_ns;
    // A run this long may be handed off early when events wait (see
    // "Early hand-off"); a fifth of the slice.
    const std::int64_t early_ns;
    std::vector<watch> watches;
    // A task that runs on after its processor was handed off (the monitor
    // follows its machine, not the processor, until it suspends).
    struct lost_watch {
        handoff_record rec;
        unsigned index = 0;            // the processor it was running on
        std::int64_t run_seen = 0;     // when its run was first seen
        std::int64_t run_cpu = -1;     // its thread's CPU time then (see watch)
        int run_tid = 0;               // and that thread
        bool reported = false;         // a stall line was printed; a closing line is owed
        std::string name;
        std::int64_t cpu = -1;
        std::int64_t reported_at = 0;
    };
    std::vector<lost_watch> lost;
    bool all_stuck = false;  // see poll()
    bool long_run = false;   // the last poll saw a run of half the early threshold or more (hand-off on)
    bool serving = false;    // the last poll saw a processor (busy or idle) with I/O in flight or timers set
    bool fence_ok = false;
    bool handoff_ok = false;  // hand-off asked for, and membarrier(2) works here
    std::thread thread;

    impl(runtime_state& r, const sysmon_settings& s);

    // ---- polling and hand-off decisions (sysmon.cpp) ----
    void loop() noexcept;
    bool sleep_while_idle() noexcept;
    bool poll(std::int64_t now);
    bool worth_handing_off(processor& p) const noexcept;
    bool events_came(processor& p, std::int64_t now) const noexcept;
    bool thread_stuck(processor& p, watch& w, std::int64_t now);
    static bool thread_asleep(const processor& p);

    // ---- stall reports and lost tasks (sysmon_stalls.cpp) ----
    void follow_lost(unsigned index, watch& w, const handoff_record& rec);
    bool poll_lost(std::int64_t now);
    void report_lost(lost_watch& l, std::int64_t now);
    bool close_lost(lost_watch& l, std::int64_t now);
    static std::string site_words(const goroutine_sample& who);
    static std::string run_cpu_words(std::int64_t run_cpu, int run_tid, int tid, std::int64_t cpu_now,
                                     std::int64_t ran_ns);
    void sample_run_cpu(const processor& p, watch& w) const noexcept;
    bool report_stall(unsigned index, processor& p, watch& w, std::uint64_t tick, std::int64_t now);
    void close_stall(unsigned index, watch& w, std::int64_t now);
};

}  // namespace goro::detail
