// The execution trace: GORO_TRACE=out.json (or options::trace) records the
// run into per-processor rings (detail/trace_buffer.hpp) and writes, when
// run() returns, a Chrome Trace Event file (JSON) that Perfetto,
// chrome://tracing and scripts/trace_view.py read:
//
//   - a track per processor ("P0", "P1", ...) with a slice per task run,
//     named by the task's spawn site; a track per blocking-pool thread;
//     a track per thread that lost its processor in a hand-off while its
//     task ran ("thread <tid>, handed off"), holding the rest of that run
//     (the processor's track goes on with its new holder's runs);
//   - instant events: park (with its reason and its kind: channel, mutex,
//     I/O, timer, join, blocking), steal;
//   - flow arrows: from a task's spawn to its first run (cat "spawn"), and
//     from the task that readied another to the readied task's next run
//     (cat "handoff" when the readied task waited on a channel or select,
//     gotrace's picture; cat "ready" otherwise).
//
// Events are recorded raw (a clock read and a few stores each; the clock
// is the TSC where the kernel keeps time with it, see trace_now); the flows
// are matched and the ticks turned into microseconds when the file is
// written: a spawn or ready of goroutine g links to g's first run slice
// that starts after it. A task run in place
// by its joiner (the fork-join fast path) has no slice of its own.

#include <fmt/core.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#if defined(__x86_64__)
#include <x86intrin.h>  // __rdtsc
#endif

#include "detail/goroutine_dump.hpp"  // readable_function
#include "detail/machine.hpp"         // processor_scope
#include "detail/scheduler_state.hpp"
#include "detail/timer_heap.hpp"  // monotonic_now_ns
#include "detail/trace_buffer.hpp"
#include "error.hpp"

namespace goro::detail {

struct tracer {
    std::string path;
    // The trace clock's readings at the start (trace_now, and the
    // monotonic clock in ns), and its nanoseconds a tick, measured over the
    // run when it is written: events carry ticks, the file microseconds.
    std::int64_t start_ticks = 0;
    std::int64_t start_ns = 0;
    double ns_per_tick = 1.0;
    std::vector<std::unique_ptr<trace_buffer>> procs;
    // Blocking-pool threads (not processors): one shared ring, under a lock
    // (a job is a system call or more: the lock is noise there).
    std::mutex external_lock;
    trace_buffer external;
    unsigned next_thread = 0;

    tracer(std::string p, std::size_t capacity) : path(std::move(p)), external(capacity) {}
};

void tracer_deleter::operator()(tracer* t) const noexcept {
    set_park_traced(false);
    delete t;
}

namespace {

// The trace's clock. Where the kernel keeps time with the TSC itself
// (clocksource "tsc": it found the counter invariant and in step across
// CPUs), its raw reading, rdtsc, a few nanoseconds; elsewhere the
// monotonic clock. A traced spawn_join spent 40 % of its time in the
// vDSO's clock_gettime (three events a task; 2026-11-30, issue 15's
// "within 2x"). Set by trace_start before the processors start (their
// start orders it), read by them; one trace at a time (trace_start).
bool g_trace_tsc = false;

inline std::int64_t trace_now() noexcept {
#if defined(__x86_64__)
    if (g_trace_tsc) return static_cast<std::int64_t>(__rdtsc());
#endif
    return monotonic_now_ns();
}

// Whether the kernel's clocksource is the TSC (see g_trace_tsc).
bool kernel_clock_is_tsc() noexcept {
#if defined(__x86_64__)
    std::FILE* f = std::fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "r");
    if (!f) return false;
    char name[32] = {};
    const bool read = std::fgets(name, sizeof name, f) != nullptr;
    std::fclose(f);
    return read && std::string_view(name) == "tsc\n";
#else
    return false;
#endif
}

thread_local unsigned t_pool_thread = 0;  // 1 + this pool thread's number, 0: not yet named

// The run this thread began last (trace_run_begin), kept on the thread as
// well as in the processor's buffer: if the processor is handed off while
// the task runs, its buffer belongs to the new holder, and the lost thread
// ends the run from this copy (trace_lost_run).
thread_local trace_event t_run_begun{};

// What a wait reason is, for the trace's park events.
const char* wait_kind(std::string_view r) {
    if (r.starts_with("chan") || r.starts_with("select")) return "channel";
    if (r.starts_with("sync.") || r.starts_with("semacquire")) return "mutex";
    if (r == "sleep") return "timer";
    if (r == "join" || r == "group wait") return "join";
    if (r == "blocking call") return "blocking";
    return "I/O";
}

}  // namespace

// ---- recording (owner thread of each buffer) ----

namespace {

std::uint64_t id_of(const goroutine* g) noexcept { return g ? g->id : 0; }

// The goroutine the calling processor runs (the readier, the spawner).
std::uint64_t running_id() noexcept {
    const processor* p = current_processor();
    // relaxed: the owner reads its own store.
    return p ? id_of(p->running.load(std::memory_order_relaxed)) : 0;
}

// The start of a flow to g's next run: `kind` (spawn or ready) by the
// goroutine running here.
void push_flow_start(trace_buffer& t, trace_kind kind, const goroutine* g) noexcept {
    trace_event e;
    e.kind = kind;
    e.ts = trace_now();
    e.g = g->id;
    e.other = running_id();
    t.push(e);
}

}  // namespace

void trace_ready(trace_buffer& t, goroutine* g) noexcept { push_flow_start(t, trace_kind::ready, g); }

void trace_spawn(trace_buffer& t, goroutine* g) noexcept { push_flow_start(t, trace_kind::spawn, g); }

void trace_run_begin(trace_buffer& t, goroutine* g) noexcept {
    t.run = trace_event{};
    t.run.kind = trace_kind::run;
    t.run.ts = trace_now();
    t.run.g = g->id;
    if (g->kind != goroutine_kind::main) {
        t.run.str = g->spawn_site.file_name();
        t.run.fn = g->spawn_site.function_name();
        t.run.line = g->spawn_site.line();
    }
    t_run_begun = t.run;
}

void trace_lost_run(runtime_state& rt, int tid) noexcept {
    if (!rt.trace || t_run_begun.ts == 0) return;
    trace_event e = t_run_begun;
    t_run_begun = trace_event{};
    e.kind = trace_kind::lost_run;
    e.dur = trace_now() - e.ts;
    e.other = static_cast<std::uint64_t>(tid);
    std::lock_guard guard(rt.trace->external_lock);
    rt.trace->external.push(e);
}

void trace_run_end(trace_buffer& t) noexcept {
    t.run.dur = trace_now() - t.run.ts;
    t.push(t.run);
}

void trace_steal(trace_buffer& t, unsigned victim, std::uint64_t n) noexcept {
    trace_event e;
    e.kind = trace_kind::steal;
    e.ts = trace_now();
    e.other = victim;
    e.line = static_cast<std::uint32_t>(n);
    t.push(e);
}

goroutine* trace_park(const char* reason) noexcept {
    goroutine* g = current_goroutine();
    // Task code: the processor only through a scope, since a hand-off may
    // have taken it from this thread (detail/machine.hpp).
    const processor_scope scope(current_processor(), current_machine());
    processor* p = scope.get();
    if (!g || !p || !p->stats.trace) return g;
    trace_event e;
    e.kind = trace_kind::park;
    e.ts = trace_now();
    e.g = g->id;
    e.str = reason;
    p->stats.trace->push(e);
    return g;
}

std::int64_t trace_blocking_begin(runtime_state& rt) noexcept {
    if (!rt.trace) [[likely]]
        return 0;
    return trace_now();
}

void trace_blocking_end(runtime_state& rt, std::int64_t start) noexcept {
    if (!rt.trace || start == 0) [[likely]]
        return;
    trace_event e;
    e.kind = trace_kind::blocking;
    e.ts = start;
    e.dur = trace_now() - start;
    std::lock_guard guard(rt.trace->external_lock);
    if (t_pool_thread == 0) t_pool_thread = ++rt.trace->next_thread;
    e.line = t_pool_thread - 1;
    rt.trace->external.push(e);
}

// ---- set-up and writing ----

void trace_start(runtime_state& rt) {
    std::string path = rt.opts.trace;
    if (path.empty())
        if (const char* env = std::getenv("GORO_TRACE")) path = env;
    if (path.empty()) return;
    // The second run of a process traced to out.json writes out-2.json, the
    // third out-3.json, ... (a program may call run() more than once).
    static std::mutex paths_lock;
    static std::unordered_map<std::string, unsigned> paths;
    unsigned n;
    {
        std::lock_guard guard(paths_lock);
        n = ++paths[path];
    }
    if (n > 1) {
        const std::size_t slash = path.rfind('/');
        const std::size_t dot = path.rfind('.');
        const std::size_t at = dot != std::string::npos && (slash == std::string::npos || dot > slash) ? dot : path.size();
        path.insert(at, fmt::format("-{}", n));
    }
    if (rt.opts.trace_events == 0)
        throw bad_configuration("goro::run: options::trace_events must be at least 1");
    if (park_traced())
        throw bad_configuration("goro::run: a trace is already being recorded in this process");
    rt.trace.reset(new tracer(path, rt.opts.trace_events));
    g_trace_tsc = kernel_clock_is_tsc();
    rt.trace->start_ticks = trace_now();
    rt.trace->start_ns = monotonic_now_ns();
    for (auto& p : rt.procs) {
        rt.trace->procs.push_back(std::make_unique<trace_buffer>(rt.opts.trace_events));
        start_tracing(*p, rt.trace->procs.back().get());
    }
    // relaxed: the processors' threads start after this (their start orders it).
    set_park_traced(true);
}

namespace {

// The events of a ring, oldest first.
void collect(const trace_buffer& b, unsigned track, std::vector<std::pair<unsigned, trace_event>>& out) {
    const std::size_t n = std::min<std::uint64_t>(b.total, b.ring.size());
    const std::size_t first = b.total > b.ring.size() ? b.next : 0;
    for (std::size_t i = 0; i < n; ++i) out.emplace_back(track, b.ring[(first + i) % b.ring.size()]);
}

std::string json_string(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
        } else {
            out += c;
        }
    }
    return out + "\"";
}

std::string short_file(const char* f) {
    std::string_view s(f ? f : "");
    const std::size_t slash = s.rfind('/');
    return std::string(slash == std::string_view::npos ? s : s.substr(slash + 1));
}

}  // namespace

void trace_finish(runtime_state& rt) noexcept {
    if (!rt.trace) return;
    tracer& tr = *rt.trace;
    try {
        constexpr unsigned k_pool_track = 1000;
        std::vector<std::pair<unsigned, trace_event>> events;  // (track, event)
        for (std::size_t i = 0; i < tr.procs.size(); ++i) collect(*tr.procs[i], static_cast<unsigned>(i), events);
        collect(tr.external, k_pool_track, events);
        // By time; equal times keep their recording order (a ring's order is
        // its owner's). (std::stable_sort: clang deprecates libstdc++ 12's
        // temporary buffer.)
        {
            std::vector<std::size_t> order(events.size());
            for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
            std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
                return events[a].second.ts != events[b].second.ts ? events[a].second.ts < events[b].second.ts
                                                                  : a < b;
            });
            std::vector<std::pair<unsigned, trace_event>> sorted;
            sorted.reserve(events.size());
            for (std::size_t i : order) sorted.push_back(events[i]);
            events.swap(sorted);
        }
        // Ticks to the file's microseconds from the start: the rate over
        // the whole run (the two clocks read together at both ends).
        {
            const std::int64_t ticks = trace_now() - tr.start_ticks;
            const std::int64_t ns = monotonic_now_ns() - tr.start_ns;
            tr.ns_per_tick = g_trace_tsc && ticks > 0 ? static_cast<double>(ns) / static_cast<double>(ticks) : 1.0;
        }
        auto us = [&](std::int64_t ts) { return static_cast<double>(ts - tr.start_ticks) * tr.ns_per_tick / 1000.0; };
        auto dur_us = [&](std::int64_t dur) { return static_cast<double>(dur) * tr.ns_per_tick / 1000.0; };

        std::string out = "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n";
        bool first = true;
        auto emit = [&](const std::string& e) {
            if (!first) out += ",\n";
            first = false;
            out += e;
        };
        emit(R"({"name":"process_name","ph":"M","pid":1,"tid":0,"args":{"name":"goro"}})");
        for (std::size_t i = 0; i < tr.procs.size(); ++i)
            emit(fmt::format(R"({{"name":"thread_name","ph":"M","pid":1,"tid":{},"args":{{"name":"P{}"}}}})", i, i));
        for (unsigned i = 0; i < tr.next_thread; ++i)
            emit(fmt::format(R"({{"name":"thread_name","ph":"M","pid":1,"tid":{},"args":{{"name":"blocking {}"}}}})",
                             k_pool_track + i, i));

        // Flows: a spawn or ready waits for the goroutine's next run.
        struct pending {
            unsigned track;
            std::int64_t ts;
            bool spawn;
            std::string cat;
            std::string name;
        };
        std::unordered_map<std::uint64_t, pending> waiting_flow;
        std::unordered_map<std::uint64_t, const char*> last_park;
        std::uint64_t flow_id = 0;
        std::unordered_map<std::string, std::string> names;  // spawn site -> slice name
        // A run's slice name: "file.cpp:42 function" of its spawn site, or "main".
        auto slice_name = [&](const trace_event& e) -> std::string {
            if (!e.str) return "main";
            const std::string key = fmt::format("{}:{}:{}", e.str, e.line, e.fn ? e.fn : "");
            auto it = names.find(key);
            if (it == names.end()) {
                std::string fn = readable_function(e.fn ? e.fn : "");
                const std::size_t paren = fn.find('(');
                if (paren != std::string::npos) fn.resize(paren);
                const std::size_t space = fn.rfind(' ');
                if (space != std::string::npos) fn = fn.substr(space + 1);
                it = names.emplace(key, fmt::format("{}:{} {}", short_file(e.str), e.line, fn)).first;
            }
            return it->second;
        };
        // Threads that lost their processor while a task ran: a track each.
        constexpr unsigned k_lost_track = 2000;
        std::unordered_map<std::uint64_t, unsigned> lost_tracks;  // tid -> track
        for (const auto& [track, e] : events) {
            switch (e.kind) {
                case trace_kind::run: {
                    const std::string name = slice_name(e);
                    emit(fmt::format(
                        R"({{"name":{},"cat":"run","ph":"X","pid":1,"tid":{},"ts":{:.3f},"dur":{:.3f},"args":{{"g":{}}}}})",
                        json_string(name), track, us(e.ts), dur_us(e.dur), e.g));
                    auto w = waiting_flow.find(e.g);
                    if (w != waiting_flow.end()) {
                        ++flow_id;
                        emit(fmt::format(
                            R"({{"name":{},"cat":"{}","ph":"s","id":{},"pid":1,"tid":{},"ts":{:.3f}}})",
                            json_string(w->second.name), w->second.cat, flow_id, w->second.track, us(w->second.ts)));
                        emit(fmt::format(
                            R"({{"name":{},"cat":"{}","ph":"f","bp":"e","id":{},"pid":1,"tid":{},"ts":{:.3f}}})",
                            json_string(w->second.name), w->second.cat, flow_id, track, us(e.ts)));
                        waiting_flow.erase(w);
                    }
                    break;
                }
                case trace_kind::spawn:
                    waiting_flow[e.g] = pending{track, e.ts, true, "spawn", "spawn"};
                    break;
                case trace_kind::ready: {
                    auto lp = last_park.find(e.g);
                    const char* reason = lp == last_park.end() ? nullptr : lp->second;
                    const bool channel = reason && std::string_view(wait_kind(reason)) == "channel";
                    // A ready by the scheduler (a timer, I/O) has no readier slice to start from.
                    if (e.other != 0)
                        waiting_flow[e.g] = pending{track, e.ts, false, channel ? "handoff" : "ready",
                                                    reason ? reason : "ready"};
                    emit(fmt::format(
                        R"({{"name":"unpark","cat":"unpark","ph":"i","s":"t","pid":1,"tid":{},"ts":{:.3f},"args":{{"g":{},"by":{},"reason":{}}}}})",
                        track, us(e.ts), e.g, e.other, json_string(reason ? reason : "")));
                    break;
                }
                case trace_kind::park:
                    last_park[e.g] = e.str;
                    emit(fmt::format(
                        R"({{"name":{},"cat":"park","ph":"i","s":"t","pid":1,"tid":{},"ts":{:.3f},"args":{{"g":{},"reason":{},"kind":"{}"}}}})",
                        json_string(fmt::format("park: {}", e.str)), track, us(e.ts), e.g, json_string(e.str),
                        wait_kind(e.str)));
                    break;
                case trace_kind::steal:
                    emit(fmt::format(
                        R"({{"name":"steal","cat":"steal","ph":"i","s":"t","pid":1,"tid":{},"ts":{:.3f},"args":{{"from":"P{}","tasks":{}}}}})",
                        track, us(e.ts), e.other, e.line));
                    break;
                case trace_kind::blocking:
                    emit(fmt::format(
                        R"({{"name":"blocking call","cat":"blocking","ph":"X","pid":1,"tid":{},"ts":{:.3f},"dur":{:.3f}}})",
                        k_pool_track + e.line, us(e.ts), dur_us(e.dur)));
                    break;
                case trace_kind::lost_run: {
                    auto [it, fresh] = lost_tracks.emplace(e.other, k_lost_track + static_cast<unsigned>(lost_tracks.size()));
                    if (fresh)
                        emit(fmt::format(
                            R"({{"name":"thread_name","ph":"M","pid":1,"tid":{},"args":{{"name":"thread {}, handed off"}}}})",
                            it->second, e.other));
                    emit(fmt::format(
                        R"({{"name":{},"cat":"lost_run","ph":"X","pid":1,"tid":{},"ts":{:.3f},"dur":{:.3f},"args":{{"g":{},"thread":{}}}}})",
                        json_string(slice_name(e)), it->second, us(e.ts), dur_us(e.dur), e.g,
                        e.other));
                    break;
                }
            }
        }
        std::uint64_t dropped = 0;
        for (auto& b : tr.procs) dropped += b->total > b->ring.size() ? b->total - b->ring.size() : 0;
        out += fmt::format("\n],\"otherData\":{{\"goro_dropped_events\":{}}}}}\n", dropped);
        std::FILE* f = std::fopen(tr.path.c_str(), "we");
        if (!f) {
            std::fputs(fmt::format("goro: cannot write the trace to {}\n", tr.path).c_str(), stderr);
        } else {
            std::fwrite(out.data(), 1, out.size(), f);
            std::fclose(f);
        }
    } catch (const std::exception& e) {
        std::fputs(fmt::format("goro: the trace was not written: {}\n", e.what()).c_str(), stderr);
    }
    for (auto& p : rt.procs) p->stats.trace = nullptr;
    rt.trace.reset();
}

}  // namespace goro::detail
