// A runtime's start-up and shutdown: goro::run's detail::run_runtime (the
// processors, their machines and the monitor start, processor 0 runs on the
// calling thread, then everything stops, drains and is destroyed: see
// "Shutdown" in the scheduler's essay, scheduler.cpp), and the public
// queries about the running runtime (goro::procs, netpoller,
// num_goroutines, usable_cpus).
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <fmt/core.h>

#include <cerrno>
#include <cstdlib>
#include <memory>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include "detail/cgroup_cpu_limit.hpp"
#include "detail/foreign_entry.hpp"
#include "detail/goroutine_dump.hpp"
#include "detail/machine.hpp"
#include "detail/schedtrace.hpp"
#include "detail/scheduler_internal.hpp"
#include "detail/scheduler_state.hpp"
#include "detail/signal_watch.hpp"
#include "detail/sysmon.hpp"
#include "error.hpp"
#include "run.hpp"

namespace goro::detail {
namespace {

unsigned env_procs() {
    const char* s = std::getenv("GORO_MAXPROCS");
    if (!s || !*s) return 0;
    char* end = nullptr;
    errno = 0;
    const long v = std::strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < 1 || v > 1'000'000)
        throw bad_configuration(fmt::format("goro: GORO_MAXPROCS={:?} is not a positive integer", s));
    return static_cast<unsigned>(v);
}

}  // namespace

void run_runtime(goroutine* main_g, std::coroutine_handle<> main_frame, const options& opts) {
    (void)main_frame;
    if (current_processor()) throw runtime_error("goro::run called from inside a running goro task");
    unsigned nprocs = opts.procs;
    if (nprocs == 0) nprocs = env_procs();
    if (nprocs == 0) nprocs = usable_cpus();
    if (opts.max_threads == 0 || nprocs > opts.max_threads)
        throw bad_configuration(fmt::format(
            "goro::run: procs ({}) exceeds max_threads ({}): the workers alone would exceed the "
            "thread limit; raise options::max_threads or lower procs",
            nprocs, opts.max_threads));
    if (nprocs >= k_external_registry)
        throw bad_configuration(fmt::format("goro::run: procs ({}) is more than goro supports ({})", nprocs,
                                            k_external_registry - 1));

    const sysmon_settings monitor_settings = read_sysmon_settings(opts);

    auto rt = std::make_unique<runtime_state>();
    rt->opts = opts;
    rt->nprocs = nprocs;
    rt->pool.max_threads = opts.max_threads - nprocs;
    rt->external_next_id.store(1, std::memory_order_relaxed);  // id 1 is main's (k_main_goroutine_id, below)
    rt->netpoll_name = choose_netpoll(opts.netpoll == netpoll_kind::io_uring ? "io_uring"
                                      : opts.netpoll == netpoll_kind::epoll  ? "epoll"
                                                                             : nullptr);
    rt->poll_spin = monitor_settings.poll_spin;
    for (unsigned i = 0; i < nprocs; ++i) rt->procs.push_back(std::make_unique<processor>(*rt, i));
    // Before any worker runs: the deques' asymmetric mode (work_deque.hpp),
    // where thieves pay a membarrier(2) and owners no exchange. One
    // processor has no thieves (worker_main's set_no_thieves); without
    // membarrier (a seccomp profile) or with GORO_DEBUG=stealfence=0 the
    // owners fence.
    if (nprocs > 1 && monitor_settings.asymmetric_steals && register_steal_fence())
        for (auto& p : rt->procs) p->deque.set_asymmetric();
    trace_start(*rt);  // GORO_TRACE, options::trace (trace.cpp)
    refresh_wait_clock();  // the parks' stamp (goroutine.hpp)

    if (!publish_runtime(rt.get()))
        throw runtime_error("goro::run: another goro runtime is already running in this process");
    struct unpublish {
        // rt, declared first and so destroyed after this guard, is freed
        // once no foreign thread can be using it.
        ~unpublish() { unpublish_runtime(); }
    } unpublish_guard;

    // The main goroutine is registered and queued before any worker runs.
    main_g->id = k_main_goroutine_id;
    {
        // Under the lock: the runtime is published already, and a foreign
        // thread may be starting a goroutine in this registry right now.
        std::lock_guard guard(rt->external_lock);
        rt->external_goroutines.insert(main_g);
        rt->external_live.fetch_add(1, std::memory_order_relaxed);
    }
    {
        std::lock_guard guard(rt->sched_lock);
        global_push_locked(*rt, main_g);
    }

    // One machine per processor, each holding its own at first; spare
    // machines come later (hand-off) with this thread's signal mask.
    ::pthread_sigmask(SIG_SETMASK, nullptr, &rt->thread_sigmask);
    for (unsigned i = 0; i < nprocs; ++i) {
        rt->machines.push_back(std::make_unique<machine>(i));
        // relaxed: published to the workers by their threads' start.
        rt->procs[i]->owner.store(rt->machines[i].get(), std::memory_order_relaxed);
        rt->machines[i]->held.store(reinterpret_cast<std::uintptr_t>(rt->procs[i].get()), std::memory_order_relaxed);
    }
    // Start workers 1..n-1; this thread is processor 0.
    for (unsigned i = 1; i < nprocs; ++i) {
        processor& p = *rt->procs[i];
        machine& m = *rt->machines[i];
        try {
            m.thread = std::thread([&p, &m] { worker_main(p, m); });
        } catch (const std::system_error& e) {
            std::lock_guard guard(rt->startup_lock);
            if (rt->startup_failure.empty())
                rt->startup_failure = fmt::format("goro::run: cannot start worker thread {}: {}", i, e.what());
            rt->nprocs = i;  // only the started ones will report
            break;
        }
    }
    // The monitor, once the set of processors is final (a worker that did
    // not start lowered nprocs). Started before processor 0 joins the
    // start-up barrier, so that failing to start it fails the run as a
    // worker's failure does: every worker still waits at that barrier.
    std::unique_ptr<sysmon> monitor;
    if (monitor_settings.needed()) {
        try {
            monitor = std::make_unique<sysmon>(*rt, monitor_settings);
        } catch (const std::system_error& e) {
            std::lock_guard guard(rt->startup_lock);
            if (rt->startup_failure.empty())
                rt->startup_failure = fmt::format("goro::run: cannot start the monitor thread: {}", e.what());
        }
    }
    {
        schedtrace_monitor trace(*rt, schedtrace_interval_ms());
        quit_signal_dumper quit_dumper(*rt);
        worker_main(*rt->procs[0], *rt->machines[0]);
    }
    // Every machine (workers and spares): the runtime is stopping, so no
    // spare is made any more, and each one still holding a processor
    // drains it first.
    rt->stopping.store(true, std::memory_order_release);
    wake_spares(*rt);
    join_machines(*rt);
    // After the workers: a goroutine stuck on one of them delays run()'s
    // return, and the monitor keeps reporting it until then.
    if (monitor) monitor->stop();

    if (!rt->startup_failure.empty()) {
        registry::erase(main_g, nullptr);
        throw startup_error(rt->startup_failure);
    }

    // ---- shutdown: every worker has stopped and drained its netpoll ----
    pool_shutdown(*rt);
    trace_finish(*rt);
    // Close the runtime to foreign threads and wait for those inside a call
    // (foreign_entry.hpp): from here on nobody readies a goroutine, and no
    // new one starts except from the destructors run below.
    rt->closed.store(true, std::memory_order_seq_cst);
    wait_for_foreign_calls();
    for (auto& p : rt->procs) p->timers.clear();
    // Goroutines started and never run wait in the run queues unregistered
    // (lazy registration, processor::goroutines): into the external
    // registry with them, so that the loop below destroys them too. The
    // workers have stopped: this thread empties the deques (as a thief)
    // and the global queue.
    auto adopt = [&](goroutine* g) {
        if (g->reg_slot) return;  // ran before: registered
        std::lock_guard guard(rt->external_lock);
        rt->external_goroutines.insert(g);
    };
    for (auto& p : rt->procs) {
        goroutine* g = nullptr;
        while (p->deque.steal(g) != decltype(p->deque)::steal_result::empty) {
            if (g) adopt(g);
            g = nullptr;
        }
    }
    {
        std::lock_guard guard(rt->sched_lock);
        while (goroutine* g = global_pop_locked(*rt)) adopt(g);
    }
    // Destroy every goroutine that never finished. A destructor may start or
    // ready other goroutines (they land in the queues, which are dropped), so
    // loop until no registry holds anything.
    std::vector<goroutine*> victims;
    set_tearing_down(true);
    struct tearing_down_scope {
        ~tearing_down_scope() { set_tearing_down(false); }
    } tearing_down_guard;
    for (;;) {
        victims.clear();
        auto collect = [&](goroutine* g) { victims.push_back(g); };
        rt->external_goroutines.for_each(collect);
        for (auto& p : rt->procs) p->goroutines.for_each(collect);
        if (victims.empty()) break;
        for (goroutine* g : victims) {
            if (!g->reg_slot) continue;  // already gone (destroyed with another frame)
            // A goroutine destroyed unfinished may have children running in
            // place: they go with its frame (their joiners' awaiters), and
            // its chain with its slot.
            g->reg_slot->in_place_child.store(nullptr, std::memory_order_relaxed);
            registry::erase(g, nullptr);
            if (g == main_g) continue;  // run() destroys main's frame itself
            // A join_handle (or an awaiter holding one) still owns the frame:
            // marked finished, the owner's destructor (run when its own
            // frame is destroyed) frees it.
            if (g->kind == goroutine_kind::joinable && g->join_state.mark_done_at_shutdown()) continue;
            g->frame_link.destroy();
        }
    }
    for (auto& p : rt->procs) p->netpoll.reset();
}

}  // namespace goro::detail

namespace goro {

unsigned procs() {
    const detail::foreign_entry entry;  // keeps a runtime that is returning alive
    detail::runtime_state* rt = detail::current_runtime();
    if (!rt) throw no_runtime("goro::procs");
    return rt->nprocs;
}

const char* netpoller() {
    const detail::foreign_entry entry;  // keeps a runtime that is returning alive
    detail::runtime_state* rt = detail::current_runtime();
    if (!rt) throw no_runtime("goro::netpoller");
    return rt->netpoll_name;
}

std::size_t num_goroutines() {
    const detail::foreign_entry entry;  // keeps a runtime that is returning alive
    detail::runtime_state* rt = detail::current_runtime();
    if (!rt) throw no_runtime("goro::num_goroutines");
    std::int64_t n = rt->external_live.load(std::memory_order_relaxed);
    for (auto& p : rt->procs) n += p->live_delta.load(std::memory_order_relaxed);
    return n > 0 ? static_cast<std::size_t>(n) : 0;
}

unsigned usable_cpus() noexcept {
    unsigned cpus = 0;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0) cpus = static_cast<unsigned>(CPU_COUNT(&set));
    if (cpus == 0) {
        const long n = ::sysconf(_SC_NPROCESSORS_ONLN);
        cpus = n > 0 ? static_cast<unsigned>(n) : 1;
    }
    return detail::procs_for_cpu_limit(cpus, detail::cgroup_cpu_limit());
}

}  // namespace goro
