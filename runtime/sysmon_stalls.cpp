// The monitor's stall reports (GORO_DEBUG=stuck): the first line when a
// goroutine has run stuck_ns without suspending, the closing line when it
// suspends; and the watch on a task that runs on after its processor was
// handed off (the monitor follows its machine until it suspends, and
// reports it as any other stall). The polling that calls them, and the
// protocols they rely on (the pin protocol above all: how a report reads a
// running goroutine's fields), are in sysmon.cpp; the state they share,
// detail/sysmon_impl.hpp.

#include <fmt/core.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <utility>

#include "detail/goroutine_dump.hpp"
#include "detail/machine.hpp"
#include "detail/sysmon_impl.hpp"
#include "detail/thread_facts.hpp"
#include "detail/timer_heap.hpp"  // monotonic_now_ns

namespace goro::detail {

// p was handed off while `w` watched its run: the monitor now watches
// the machine that runs the task on (a stall open on p moves with it).
void sysmon::impl::follow_lost(unsigned index, watch& w, const handoff_record& rec) {
    const std::int64_t now = monotonic_now_ns();
    // A machine lost once before whose watch is still here (its stall
    // ended unseen between two polls): that one is over.
    for (auto it = lost.begin(); it != lost.end(); ++it) {
        if (it->rec.m == rec.m) {
            close_lost(*it, now);
            lost.erase(it);
            break;
        }
    }
    lost_watch l;
    l.rec = rec;
    l.index = index;
    l.run_seen = w.run_seen;
    l.run_cpu = w.run_cpu;  // the task runs on on the same thread
    l.run_tid = w.run_tid;
    if (w.stall_open) {
        std::fputs(fmt::format("goro: stuck: {} runs on; processor {} was handed to another thread\n",
                               w.stall_name, index)
                       .c_str(),
                   stderr);
        l.reported = true;
        l.name = w.stall_name;
        l.cpu = w.stall_cpu;
        l.reported_at = w.stall_reported_at;
        w.stall_open = false;
        w.stall_g = nullptr;
    }
    if (rec.g) lost.push_back(std::move(l));
}

// The tasks that run on without a processor: a stall report when one
// has run stuck_ns, a closing line when it suspends.
bool sysmon::impl::poll_lost(std::int64_t now) {
    bool acted = false;
    for (auto it = lost.begin(); it != lost.end();) {
        // relaxed: compared, never dereferenced.
        if (it->rec.m->lost_g.load(std::memory_order_relaxed) != it->rec.g) {
            acted = close_lost(*it, now) || acted;
            it = lost.erase(it);
            continue;
        }
        if (settings.stuck_ns > 0 && !it->reported && now - it->run_seen >= settings.stuck_ns) {
            report_lost(*it, now);
            acted = true;
        }
        ++it;
    }
    return acted;
}

void sysmon::impl::report_lost(lost_watch& l, std::int64_t now) {
    // relaxed: written once when its thread started.
    const int tid = l.rec.m->tid.load(std::memory_order_relaxed);
    std::string where;
    // Read now, not at the hand-off: the task may have suspended just
    // before it (see sample_registered_goroutine); it is still
    // registered while it runs on.
    goroutine_sample who;
    if (sample_registered_goroutine(rt, l.rec.g, who) == registered_sample::found) {
        l.name = fmt::format("goroutine {}", who.id);
        where = site_words(who);
    } else {
        l.name = fmt::format("the goroutine that was on processor {}", l.index);
        where = "; its id and spawn site are unknown";
    }
    const std::int64_t cpu = thread_cpu_ns(tid);
    std::fputs(fmt::format("goro: stuck: {} has run {} ms without suspending, on a thread whose processor "
                           "({}) was handed off ({}{}){}\n",
                           l.name, (now - l.run_seen) / 1'000'000, l.index, thread_activity(tid),
                           run_cpu_words(l.run_cpu, l.run_tid, tid, cpu, now - l.run_seen), where)
                   .c_str(),
               stderr);
    l.reported = true;
    l.cpu = cpu;
    l.reported_at = now;
}

// The closing line of a lost task's stall, if one was reported.
bool sysmon::impl::close_lost(lost_watch& l, std::int64_t now) {
    if (!l.reported) return false;
    std::string cpu;
    // relaxed: as in report_lost.
    const std::int64_t cpu_now = thread_cpu_ns(l.rec.m->tid.load(std::memory_order_relaxed));
    if (l.cpu >= 0 && cpu_now >= l.cpu && now > l.reported_at)
        cpu = fmt::format("; its thread was on a CPU {}% of the time since the report",
                          100 * (cpu_now - l.cpu) / (now - l.reported_at));
    std::fputs(fmt::format("goro: stuck: {} suspended after {} ms, without a processor (it had processor {}){}\n",
                           l.name, (now - l.run_seen) / 1'000'000, l.index, cpu)
                   .c_str(),
               stderr);
    l.reported = false;
    return true;
}

// "; the main task..." or "; spawned at FILE:LINE in FUNCTION".
std::string sysmon::impl::site_words(const goroutine_sample& who) {
    if (who.is_main) return "; the main task of goro::run";
    return fmt::format("; spawned at {}:{} in {}", who.spawn_site.file_name(), who.spawn_site.line(),
                       who.spawn_site.function_name());
}

// ", on a CPU 11 of these 12 ms": how much of a run of ran_ns its
// thread spent on a CPU, from its CPU time when the monitor first saw the
// run (run_cpu, of thread run_tid) to now (cpu_now, of thread tid); the
// rest it waited for a CPU (the machine's CPUs were busy: /proc says "R"
// either way) or slept in the kernel. Empty when either sample is unknown
// or the two are of different threads.
std::string sysmon::impl::run_cpu_words(std::int64_t run_cpu, int run_tid, int tid, std::int64_t cpu_now,
                                        std::int64_t ran_ns) {
    if (run_cpu < 0 || run_tid != tid || cpu_now < run_cpu) return {};
    // The two CPU samples come microseconds after the two clock readings
    // that make ran_ns: never say more than all of it.
    const std::int64_t on_cpu = std::min(cpu_now - run_cpu, ran_ns);
    return fmt::format(", on a CPU {} of these {} ms", on_cpu / 1'000'000, ran_ns / 1'000'000);
}

// The first line of a stall: the goroutine running on p has not
// suspended since its run began (tick's low half) at least stuck_ns ago.
bool sysmon::impl::report_stall(unsigned index, processor& p, watch& w, std::uint64_t tick, std::int64_t now) {
    // acquire: pairs with the owner's release store at the run's start,
    // so the goroutine's fields (written before it was queued) are seen.
    goroutine* g = p.running.load(std::memory_order_acquire);
    if (!g) return false;  // between runs, or parked: nothing is stuck
    goroutine_sample who;
    bool known = false;
    if (fence_ok) {
        // Never through the pointer alone (see the pin protocol).
        const registered_sample sampled = sample_registered_goroutine(rt, g, who);
        known = sampled == registered_sample::found;
        // relaxed: compared only. Unreadable is reported without the
        // identity: a stall must never go unreported for want of a name.
        if (sampled == registered_sample::gone || p.schedtick.load(std::memory_order_relaxed) != tick ||
            p.running.load(std::memory_order_relaxed) != g)
            return false;  // it ended (or suspended) while we looked: no stall to report
    }
    // relaxed: written once before the processor ran anything.
    const int tid = p.thread_id.load(std::memory_order_relaxed);
    w.stall_open = true;
    w.stall_g = g;
    w.stall_cpu = thread_cpu_ns(tid);
    w.stall_reported_at = now;
    const std::string activity =
        thread_activity(tid) + run_cpu_words(w.run_cpu, w.run_tid, tid, w.stall_cpu, now - w.run_seen);
    std::string where;
    if (!known) {
        w.stall_name = fmt::format("the goroutine on processor {}", index);
        where = "; its id and spawn site are unknown (membarrier(2) is not available)";
    } else {
        w.stall_name = fmt::format("goroutine {}", who.id);
        where = site_words(who);
    }
    std::fputs(fmt::format("goro: stuck: {} has run {} ms without suspending, on processor {} ({}){}\n",
                           w.stall_name, (now - w.run_seen) / 1'000'000, index, activity, where)
                   .c_str(),
               stderr);
    return true;
}

// The closing line: the reported goroutine suspended (or finished).
void sysmon::impl::close_stall(unsigned index, watch& w, std::int64_t now) {
    const std::int64_t total_ms = (now - w.run_seen) / 1'000'000;
    std::string cpu;
    // relaxed: see report_stall.
    const std::int64_t cpu_now = thread_cpu_ns(rt.procs[index]->thread_id.load(std::memory_order_relaxed));
    if (w.stall_cpu >= 0 && cpu_now >= w.stall_cpu && now > w.stall_reported_at)
        cpu = fmt::format("; its thread was on a CPU {}% of the time since the report",
                          100 * (cpu_now - w.stall_cpu) / (now - w.stall_reported_at));
    std::fputs(fmt::format("goro: stuck: {} suspended after {} ms, on processor {}{}\n", w.stall_name,
                           total_ms, index, cpu)
                   .c_str(),
               stderr);
    w.stall_open = false;
    w.stall_g = nullptr;
}

}  // namespace goro::detail
