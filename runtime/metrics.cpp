// goro::metrics (metrics.hpp) and the slow half of the ready hooks: the
// latency sample and the trace of readies (detail/processor_stats.hpp).

#include "metrics.hpp"

#include <algorithm>
#include <coroutine>
#include <exception>
#include <mutex>
#include <new>

#include "detail/foreign_entry.hpp"
#include "detail/frame_allocator.hpp"
#include "detail/goroutine.hpp"
#include "detail/processor_stats.hpp"
#include "detail/scheduler_state.hpp"
#include "detail/timer_heap.hpp"  // monotonic_now_ns
#include "error.hpp"

namespace goro {
namespace detail {

namespace {

// The latency probe (detail/processor_stats.hpp): a coroutine that stands
// in for a sampled goroutine's resume point. One per processor, made at its
// first sample and kept until the processor is destroyed
// (~processor_stats): its body is a loop whose every resume fires one
// sample (probe_fire), so that a sample allocates, builds and frees no
// frame (that was 100 of the 250 instructions a sample cost, callgrind,
// pingpong).
struct latency_probe {
    struct promise_type;
    std::coroutine_handle<promise_type> handle;
};

// One sample: times it and transfers to the goroutine's real resume point,
// on the thread that resumed the probe, leaving the probe suspended here
// for the next one.
struct probe_fire {
    bool await_ready() const noexcept { return false; }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<latency_probe::promise_type> self) noexcept;
    void await_resume() const noexcept {}
};

// Written by the owner when it arms the probe (arm_latency_probe), while
// no sample is in flight; read by the thread that fires it (the fields
// reach it through the sampled goroutine's publication).
struct latency_probe::promise_type {
    processor_stats* stats = nullptr;       // whose histogram (set once)
    std::coroutine_handle<> resume_point;   // the sampled goroutine's own
    std::int64_t ready_ns = 0;              // when it was readied

    // Made once per processor, freed by ~processor_stats on the thread
    // that destroys the runtime. From the tasks' frame pool
    // (frame_allocator.hpp, which takes frames back on any thread), as
    // the per-sample frame was: from the general heap, this one
    // allocation moved select's channels and cost it 3 % (ab.py, 15
    // rounds; its code and instructions unchanged). A sample is optional: with no
    // memory for the frame, none is taken (the ready is noexcept), and the
    // next arm tries again.
    static void* operator new(std::size_t n) noexcept {
        try {
            return allocate_frame(n);
        } catch (...) {
            return nullptr;
        }
    }
    static void operator delete(void* frame, std::size_t n) noexcept { free_frame(frame, n); }
    static latency_probe get_return_object_on_allocation_failure() noexcept { return {}; }

    latency_probe get_return_object() noexcept {
        return {std::coroutine_handle<promise_type>::from_promise(*this)};
    }
    std::suspend_always initial_suspend() const noexcept { return {}; }
    // Never reached (the body does not return); destroy() frees the frame
    // wherever it is suspended.
    std::suspend_always final_suspend() const noexcept { return {}; }
    void return_void() const noexcept {}
    void unhandled_exception() const noexcept { std::terminate(); }
};

std::coroutine_handle<> probe_fire::await_suspend(std::coroutine_handle<latency_probe::promise_type> self) noexcept {
    latency_probe::promise_type& pr = self.promise();
    processor_stats& s = *pr.stats;
    const std::coroutine_handle<> next = pr.resume_point;
    const std::int64_t ns = monotonic_now_ns() - pr.ready_ns;
    // A relaxed load and store, not a fetch_add (a locked add, about 20
    // cycles): the histogram has one writer at a time, though not always
    // the same thread. Each sample's add happens before the next one's:
    // this sample's release store below, the owner's acquire at the next
    // arm, and that sample's publication with its goroutine order them.
    // Readers (goro::metrics) load it relaxed, racily, as every counter.
    std::atomic<std::uint64_t>& bucket = s.latency[latency_bucket(ns)];
    bucket.store(bucket.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    // release: this sample's reads of the promise (above) and its add
    // happen before the owner's next arming (its acquire load in
    // arm_latency_probe), which then writes the promise again. The last
    // touch of the frame on this thread: the probe is suspended already
    // (await_suspend runs after the suspension), and the transfer to
    // `next` that follows reads no more of it.
    s.probe_in_flight.store(false, std::memory_order_release);
    return next;
}

latency_probe make_latency_probe() {
    for (;;) co_await probe_fire{};
}

// The processor's probe, made on its first sample (null: no memory).
// Out of line: once per processor.
[[gnu::noinline, gnu::cold]] void* first_latency_probe(processor_stats& s) noexcept {
    const latency_probe probe = make_latency_probe();
    if (!probe.handle) return nullptr;
    probe.handle.promise().stats = &s;
    s.probe_frame = probe.handle.address();
    return s.probe_frame;
}

// Times g's wait from now until it runs: arms this processor's probe in its
// resume point, unless a sample is in flight. g is the caller's: readied,
// not yet published to a queue (the push that publishes it orders these
// writes before the resume).
void arm_latency_probe(processor_stats& s, goroutine* g) noexcept {
    // acquire: pairs with the release store of the sample that fired last
    // (probe_fire), possibly on another thread: its reads of the promise
    // are done before the writes below.
    if (s.probe_in_flight.load(std::memory_order_acquire)) return;
    void* frame = s.probe_frame ? s.probe_frame : first_latency_probe(s);
    if (!frame) return;
    const auto probe = std::coroutine_handle<latency_probe::promise_type>::from_address(frame);
    latency_probe::promise_type& pr = probe.promise();
    pr.resume_point = g->resume_point;
    pr.ready_ns = monotonic_now_ns();
    g->resume_point = probe;
    // relaxed: only the owner sets it, and only from false; the probe's
    // fields reach the thread that fires it through g's publication, and
    // that thread's store of false is ordered after this one by it too.
    s.probe_in_flight.store(true, std::memory_order_relaxed);
}

}  // namespace

void note_hooked_ready(processor& p, goroutine* g) noexcept {
    processor_stats& s = p.stats;
    if (s.trace) {
        // Every ready traced; the hooks stay armed (start_tracing), and
        // readies_to_sample picks the samples.
        trace_ready(*s.trace, g);
        if (--s.readies_to_sample != 0) return;
        s.readies_to_sample = processor_stats::k_latency_sample_every;
    } else {
        // One arm, one sample: disarm the hook that did not fire. ready()
        // has put g where its mark was; a ready_local leaves it to us.
        if (p.runnext.load(std::memory_order_relaxed) == runnext_hook())
            p.runnext.store(nullptr, std::memory_order_relaxed);  // relaxed: see processor::runnext
        p.local_hook = false;
        if (p.netpoll_readied == k_netpoll_idle_hooked) p.netpoll_readied = k_netpoll_idle;  // not in a reap
    }
    arm_latency_probe(s, g);
}

void note_created_traced(processor_stats& s, goroutine* g) noexcept { trace_spawn(*s.trace, g); }

void start_tracing(processor& p, trace_buffer* buffer) noexcept {
    p.stats.trace = buffer;
    // relaxed: the processor has not started; its thread's start orders this.
    p.runnext.store(runnext_hook(), std::memory_order_relaxed);
    p.local_hook = true;
    p.netpoll_readied = k_netpoll_idle_hooked;
}

}  // namespace detail

double latency_histogram::upper_ns(std::size_t bucket) noexcept {
    return static_cast<double>(std::uint64_t{1} << (bucket + detail::processor_stats::k_latency_shift));
}

std::uint64_t latency_histogram::samples() const noexcept {
    std::uint64_t n = 0;
    for (auto c : counts) n += c;
    return n;
}

double latency_histogram::quantile_ns(double q) const noexcept {
    const std::uint64_t n = samples();
    if (n == 0) return 0;
    const double want = std::clamp(q, 0.0, 1.0) * static_cast<double>(n);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts.size(); ++i) {
        seen += counts[i];
        if (static_cast<double>(seen) >= want && seen > 0) return upper_ns(i);
    }
    return upper_ns(counts.size() - 1);
}

std::vector<std::pair<std::string, double>> runtime_metrics::by_name() const {
    processor_metrics sum;
    for (const auto& p : processors) {
        sum.runs += p.runs;
        sum.steals += p.steals;
        sum.parks += p.parks;
        sum.polls += p.polls;
        sum.global_taken += p.global_taken;
        sum.timers_fired += p.timers_fired;
    }
    auto d = [](auto v) { return static_cast<double>(v); };
    return {
        {"/sched/goroutines:goroutines", d(goroutines)},
        {"/sched/goroutines-created:goroutines", d(goroutines_created)},
        {"/sched/gomaxprocs:threads", d(procs)},
        {"/sched/threads/total:threads", d(threads)},
        {"/goro/sched/goroutines-finished:goroutines", d(goroutines_finished)},
        {"/goro/sched/global-queue:goroutines", d(global_queue)},
        {"/goro/sched/runs:goroutines", d(sum.runs)},
        {"/goro/sched/steals:goroutines", d(sum.steals)},
        {"/goro/sched/parks:events", d(sum.parks)},
        {"/goro/sched/netpoll-polls:events", d(sum.polls)},
        {"/goro/sched/global-taken:goroutines", d(sum.global_taken)},
        {"/goro/sched/timers-fired:timers", d(sum.timers_fired)},
        {"/goro/io/in-flight:operations", d(io_in_flight)},
        {"/goro/sched/spare-threads:threads", d(spare_threads)},
        {"/goro/sched/lost-threads:threads", d(lost_threads)},
        {"/goro/sched/handoffs:events", d(handoffs)},
        {"/goro/sched/handoffs-refused:events", d(handoffs_refused)},
        {"/goro/sched/handoffs-early:events", d(handoffs_early)},
        {"/goro/blocking/threads:threads", d(blocking_threads)},
        {"/goro/blocking/busy:threads", d(blocking_busy)},
        {"/goro/blocking/idle:threads", d(blocking_idle)},
        {"/goro/blocking/queued:jobs", d(blocking_queued)},
    };
}

runtime_metrics metrics() {
    const detail::foreign_entry entry;  // keeps a runtime that is returning alive
    detail::runtime_state* rt = detail::current_runtime();
    if (!rt) throw no_runtime("goro::metrics");
    {
        // Every processor's netpoll exists once it has reported its start.
        std::unique_lock guard(rt->startup_lock);
        rt->startup_cv.wait(guard, [&] { return rt->started >= rt->nprocs; });
    }
    runtime_metrics m;
    m.procs = rt->nprocs;
    auto rd = [](const std::atomic<std::uint64_t>& c) { return c.load(std::memory_order_relaxed); };
    m.sched_latency.counts.assign(detail::processor_stats::k_latency_buckets, 0);
    std::int64_t live = rt->external_live.load(std::memory_order_relaxed);
    // External starts: main (id 1) and one fetch_add of external_next_id each.
    std::uint64_t created = rt->external_next_id.load(std::memory_order_relaxed);
    std::uint64_t finished = rt->external_finished.load(std::memory_order_relaxed);
    for (unsigned i = 0; i < rt->nprocs; ++i) {
        const detail::processor& p = *rt->procs[i];
        const detail::processor_stats& s = p.stats;
        processor_metrics pm;
        pm.runs = rd(p.runs);  // the loop's fairness tick (scheduler_state.hpp)
        pm.finished = rd(s.finished);
        // Started here: live_delta counts them less those finished here
        // (processor_stats::finished). Read racily as the rest: a snapshot
        // taken while p runs may be off by the starts and finishes between
        // the two loads, never by more; exact once p is quiet.
        const std::int64_t live_here = p.live_delta.load(std::memory_order_relaxed);
        pm.created = static_cast<std::uint64_t>(std::max<std::int64_t>(
            live_here + static_cast<std::int64_t>(pm.finished), 0));
        pm.steals = rd(s.steals);
        pm.stolen = rd(s.stolen);
        pm.parks = rd(s.parks);
        pm.polls = rd(s.polls);
        pm.global_taken = rd(s.global_taken);
        pm.timers_fired = rd(s.timers_fired);
        for (unsigned b = 0; b < detail::processor_stats::k_latency_buckets; ++b)
            m.sched_latency.counts[b] += rd(s.latency[b]);
        created += pm.created;
        finished += pm.finished;
        live += live_here;
        if (p.netpoll) m.io_in_flight += static_cast<std::uint64_t>(std::max<std::int64_t>(p.netpoll->in_flight(), 0));
        m.processors.push_back(pm);
    }
    m.goroutines = static_cast<std::uint64_t>(std::max<std::int64_t>(live, 0));
    m.goroutines_created = created;
    m.goroutines_finished = finished;
    m.global_queue = rt->global_size.load(std::memory_order_relaxed);
    {
        std::lock_guard guard(rt->pool.lock);
        m.blocking_threads = rt->pool.threads;
        m.blocking_idle = rt->pool.idle;
        m.blocking_queued = rt->pool.queued;
    }
    m.blocking_busy = m.blocking_threads - std::min(m.blocking_idle, m.blocking_threads);
    // relaxed: counters for reading, as the processors' own.
    m.spare_threads = rt->spare_threads.load(std::memory_order_relaxed);
    m.lost_threads = rt->nlost.load(std::memory_order_relaxed);
    m.handoffs = rt->handoffs.load(std::memory_order_relaxed);
    m.handoffs_refused = rt->handoffs_refused.load(std::memory_order_relaxed);
    m.handoffs_early = rt->early_handoffs.load(std::memory_order_relaxed);
    m.threads = m.procs + m.blocking_threads + m.spare_threads;
    return m;
}

}  // namespace goro
