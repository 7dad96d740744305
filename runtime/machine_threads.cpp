// The threads of the machines (Go's Ms: the scheduler's essay,
// runtime/scheduler.cpp, "Hand-off"), from their start: worker_main is a
// processor's first thread (it makes the processor's netpoll, then waits
// at the start-up barrier for every other processor), machine_main a
// spare made for a hand-off (it waits for a processor first). Both then
// run run_machine (scheduler.cpp, with the processors' loop it inlines)
// until the runtime stops.

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <exception>
#include <mutex>

#include "detail/machine.hpp"
#include "detail/netpoll.hpp"
#include "detail/scheduler_internal.hpp"
#include "detail/scheduler_state.hpp"

namespace goro::detail {

void worker_main(processor& p, machine& m) {
    t_ctx.m = &m;
    m.tid.store(static_cast<int>(::gettid()), std::memory_order_relaxed);
    t_ctx.p = &p;
    p.deque.bind_owner();
    // One processor: nobody steals (steal_work returns at once), so the
    // deque's owner operations need no store-load fence (work_deque.hpp).
    if (p.rt.nprocs == 1) p.deque.set_no_thieves();
    // relaxed: read by the monitor for its reports only (0 until then).
    p.thread_id.store(static_cast<int>(::gettid()), std::memory_order_relaxed);
    try {
        p.netpoll = make_netpoll(p.rt.netpoll_name);
    } catch (const std::exception& e) {
        std::lock_guard guard(p.rt.startup_lock);
        if (p.rt.startup_failure.empty()) p.rt.startup_failure = e.what();
        ++p.rt.started;
        p.rt.startup_cv.notify_all();
        t_ctx.p = nullptr;
        t_ctx.m = nullptr;
        return;
    }
    {
        std::lock_guard guard(p.rt.startup_lock);
        ++p.rt.started;
        p.rt.startup_cv.notify_all();
    }
    // Wait until every processor is up (or startup failed) before running anything.
    {
        std::unique_lock guard(p.rt.startup_lock);
        p.rt.startup_cv.wait(guard, [&] { return p.rt.started == p.rt.nprocs; });
        if (!p.rt.startup_failure.empty()) {
            guard.unlock();
            p.netpoll.reset();
            t_ctx.p = nullptr;
            t_ctx.m = nullptr;
            return;
        }
    }
    run_machine(p.rt, m, &p, false);
    t_ctx.p = nullptr;
    t_ctx.m = nullptr;
}

void machine_main(runtime_state& rt, machine& m) noexcept {
    // Made by the monitor, whose mask blocks every signal: a processor
    // thread has run()'s thread's mask, as the workers do.
    ::pthread_sigmask(SIG_SETMASK, &rt.thread_sigmask, nullptr);
    t_ctx.m = &m;
    m.tid.store(static_cast<int>(::gettid()), std::memory_order_relaxed);
    run_machine(rt, m, wait_as_spare(rt, m), true);
    t_ctx.m = nullptr;
}

}  // namespace goro::detail
