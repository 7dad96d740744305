// The scheduler's side of the calls a task makes (detail/goroutine.hpp):
// starting a goroutine (go, spawn, group::go), readying one, finishing,
// and the symmetric transfer between them (switch_to). The fork-join fast
// path (run_in_place, end_in_place, join_all's batch) is in_place_join.cpp. The processors' loop that runs what
// these queue is scheduler.cpp.
#include "detail/foreign_entry.hpp"
#include "detail/goroutine_dump.hpp"
#include "detail/machine.hpp"
#include "detail/scheduler_internal.hpp"
#include "detail/scheduler_state.hpp"
#include "detail/sysmon.hpp"
#include "error.hpp"

namespace goro::detail {

// Every function below that task code calls reaches the thread's processor
// through a processor_scope (detail/machine.hpp): the processor may have been
// handed off while the task ran (runtime/handoff.cpp). A thread that lost it
// takes the path of threads that are not processors (the global queue, the
// external registry) and never touches the processor again.

[[gnu::noinline]] goroutine* current_goroutine() noexcept {
    // Every caller is about to suspend the goroutine (a park, a yield, an
    // I/O start).
    forget_fj_regions();
    // This thread's own record: right whether or not it still holds its
    // processor.
    return t_ctx.g;
}

namespace {

// switch_to's work, under the caller's scope on t_ctx.p.
inline void switch_under(goroutine* g, const processor_scope& scope) noexcept {
    // The goroutine switched from suspended or finished: no region of its
    // is left on the chain (detail/fork_join_region.hpp).
    GORO_ASSERT(t_ctx.fj_top == nullptr);
    t_ctx.g = g;
    // No schedtick step (it would cost fork-join code two increments per
    // task): a child run in place continues its joiner's run, as a call
    // would, and a joiner resumed by the child it joined starts after
    // the child's finish, which stepped it. `running` changes, which is
    // all the monitor needs to see that a reported stall ended.
    // release: as in run_goroutine.
    if (processor* p = scope.get())
        p->running.store(g, std::memory_order_release);
    else
        t_ctx.m->lost_g.store(g, std::memory_order_relaxed);
    g->wait_reason.store(nullptr, std::memory_order_relaxed);
}

}  // namespace

[[gnu::noinline]] void switch_to(goroutine* g) noexcept {
    if (processor* p = t_ctx.p) {
        const processor_scope scope(p, t_ctx.m);
        switch_under(g, scope);
    }
}

namespace {

// The readies' shared shape, under a processor_scope: `work` on the
// processor, or ready_from_outside without one (none, or handed off).
template <typename Work>
[[gnu::noinline, gnu::cold]] void ready_scoped(goroutine* g, Work work) noexcept {
    const processor_scope scope(t_ctx.p, t_ctx.m);
    if (processor* p = scope.get())
        work(*p);
    else
        ready_from_outside(g);
}

// The readies' shared prologue and epilogue: `work` on this thread's
// processor. processor_scope's entry and exit inlined for the cases a
// ready meets on its hot paths: task code on a thread that holds its
// processor (enter_from_task's case), and scheduler code (in_sched set:
// the loop's timers and I/O completions; ownership was confirmed there).
// The rest (no processor, being handed off, lost) takes ready_scoped, out
// of line. Nothing here for the metrics or the trace: `work` meets the
// ready hooks in the words it tests anyway (processor_stats.hpp).
template <typename Work>
[[gnu::always_inline]] inline void ready_with(goroutine* g, Work work) noexcept {
    processor* p = t_ctx.p;
    machine* m = t_ctx.m;
    if (!p) [[unlikely]] {
        ready_from_outside(g);
        return;
    }
    // relaxed: only this thread writes in_sched.
    if (m->in_sched.load(std::memory_order_relaxed)) {
        // Scheduler code: p is held, nothing to enter or leave.
        work(*p);
        return;
    }
    // enter_from_task's steps, the first checks done above.
    if (!enter_processor_fast(p, m)) [[unlikely]] {
        leave_processor(m);
        ready_scoped(g, work);
        return;
    }
    work(*p);
    leave_processor(m);
}

// ready()'s branch for a runnext that was not empty: `displaced` is the
// hook mark (the ready is noted: g is in its place already, and runnext
// is not stealable, so the probe may change g's resume point after the
// store), or a goroutine, which goes to the deque (and, while tracing,
// the ready is noted: the slot held no mark to hook it).
[[gnu::always_inline]] inline void ready_displacing(processor& p, goroutine* g, goroutine* displaced) noexcept {
    if (!runnext_holds(displaced)) [[unlikely]] {
        note_hooked_ready(p, g);
        return;
    }
    if (p.stats.trace) [[unlikely]]
        note_hooked_ready(p, g);
    push_local(p, displaced);
    wakep(p.rt);
}

// ready_local's branch for a netpoll_readied other than k_netpoll_idle: a
// reap (count the ready; the reaper decides whom to wake), the ready hook
// (processor::local_hook), or both.
[[gnu::always_inline]] inline void ready_local_counted(processor& p, goroutine* g) noexcept {
    // Before the push, which publishes g to thieves: the probe may change
    // its resume point.
    if (p.local_hook) [[unlikely]]
        note_hooked_ready(p, g);
    push_local(p, g);
    // An I/O completion reaped by the scheduler: it wakes nobody yet
    // (end_netpoll_reap, detail/netpoll_reap.hpp, decides once the reap is
    // done). Read again: note_hooked_ready disarms the hook outside a reap.
    if (p.netpoll_readied < k_netpoll_idle_hooked) {
        ++p.netpoll_readied;
        return;
    }
    wakep(p.rt);
}

}  // namespace

[[gnu::noinline]] void ready(goroutine* g) noexcept {
    ready_with(g, [g](processor& p) {
        // relaxed: holder only (atomic for the monitor's hint).
        goroutine* displaced = p.runnext.load(std::memory_order_relaxed);
        p.runnext.store(g, std::memory_order_relaxed);
        if (displaced) ready_displacing(p, g, displaced);
    });
}

[[gnu::noinline]] void ready_local(goroutine* g) noexcept {
    ready_with(g, [g](processor& p) {
        if (p.netpoll_readied != k_netpoll_idle) [[unlikely]] {
            ready_local_counted(p, g);
            return;
        }
        push_local(p, g);
        wakep(p.rt);
    });
}

[[gnu::noinline]] void ready_later(goroutine* g) noexcept {
    // Not noted (a yield, not a wait that ended).
    ready_with(g, [g](processor& p) {
        // Behind everything local: the global queue is FIFO and checked
        // every 61 ticks and whenever the local queues run dry.
        {
            std::lock_guard guard(p.rt.sched_lock);
            global_push_locked(p.rt, g);
        }
        wakep(p.rt);
    });
}

namespace {

// start_goroutine from outside the processors (a plain thread, a
// blocking-pool job, a task whose processor was handed off, or a destructor
// run by shutdown): registered in the external registry. Out of line, so
// that the processor's path saves no registers for it (issue 14).
[[gnu::noinline, gnu::cold]] void start_goroutine_outside(goroutine* g, const char* api_name) {
    foreign_entry entry;
    runtime_state* rt = current_runtime();
    if (!rt) throw no_runtime(api_name);
    // seq_cst: the Dekker load (foreign_entry.hpp). Shutdown's own thread
    // may still start goroutines (from destructors); they are destroyed in
    // its loop, so they need not run.
    if (rt->closed.load(std::memory_order_seq_cst) && !tearing_down()) throw no_runtime(api_name);
    {
        std::lock_guard guard(rt->external_lock);
        g->id = 2 * rt->external_next_id.fetch_add(1, std::memory_order_relaxed) + 1;
        rt->external_goroutines.insert(g);
        rt->external_live.fetch_add(1, std::memory_order_relaxed);
    }
    ready_external(*rt, g);
}

// start_on's end: g is queued on `p`, held by this thread.
[[gnu::always_inline]] inline void queue_started(goroutine* g, processor& p) {
    push_local(p, g);
    // A spawn is a scheduling event: the monitor sees a run step, so a
    // task that keeps starting others (a loop spawning a million) is
    // not taken for stuck and handed off, which would move the rest of
    // its spawns to the slow path of a thread without a processor
    // (spawn_join at 1 processor: 1.73x). A task that spawns and then
    // computes is handed off a time slice after its last spawn.
    advance_schedtick(p, k_tick_run);
    wakep(p.rt);
}

// start_on's path while tracing: the start recorded (before the push,
// which may let a thief run g and free it), then the rest of the start.
// Out of line, so that the untraced path makes no call in its middle: a
// call there cost it a register save, to keep g for the push after it.
[[gnu::noinline, gnu::cold]] void start_traced(goroutine* g, processor& p) {
    note_created_traced(p.stats, g);
    queue_started(g, p);
}

// start_goroutine's work on `p`, held by this thread.
[[gnu::always_inline]] inline void start_on(goroutine* g, processor& p) {
    g->id = p.next_id;
    p.next_id += p.id_step;
    // Not registered yet (lazy registration, processor::goroutines): a dump
    // finds it in the deque, and whoever takes it out registers it, but for
    // its joiner running it in place.
    add_live(p, 1);
    // The start's one test for the trace (a start has no ready hook:
    // nothing on its path tests a word that the loop could arm).
    if (p.stats.trace) [[unlikely]] {
        start_traced(g, p);
        return;
    }
    queue_started(g, p);
}

// start_goroutine in every case, under a processor_scope (see
// run_in_place_scoped).
[[gnu::noinline, gnu::cold]] void start_goroutine_scoped(goroutine* g, const char* api_name) {
    {
        const processor_scope scope(t_ctx.p, t_ctx.m);
        if (processor* p = scope.get()) {
            start_on(g, *p);
            return;
        }
    }
    // No processor, or it was handed off while the task ran (the scope,
    // lost, entered nothing): started as any thread without one.
    start_goroutine_outside(g, api_name);
}

}  // namespace

[[gnu::noinline]] void start_goroutine(goroutine* g, const char* api_name) {
    processor* p = t_ctx.p;
    machine* m = t_ctx.m;
    if (!enter_from_task(p, m)) [[unlikely]] {
        start_goroutine_scoped(g, api_name);
        return;
    }
    start_on(g, *p);
    leave_processor(m);
}

void start_goroutine_held(goroutine* g, processor& p) noexcept {
    GORO_ASSERT(holds_processor(p));
    start_on(g, p);
}

[[gnu::noinline]] bool start_goroutines(goroutine* const* gs, std::size_t n) noexcept {
    processor* p = t_ctx.p;
    machine* m = t_ctx.m;
    if (!enter_from_task(p, m)) [[unlikely]]
        return false;
    if (p->stats.trace) [[unlikely]] {
        // Each start recorded, as start_on records one.
        for (std::size_t i = 0; i < n; ++i) start_on(gs[i], *p);
        leave_processor(m);
        return true;
    }
    // start_on's steps: the count first, as there (a thief may finish one
    // as soon as it is pushed), then per goroutine its id and the push,
    // which publishes it.
    add_live(*p, static_cast<std::int64_t>(n));
    for (std::size_t i = 0; i < n; ++i) {
        goroutine* g = gs[i];
        g->id = p->next_id;
        p->next_id += p->id_step;
        push_local(*p, g);
    }
    // One scheduling event and one wake-up for the lot (queue_started's).
    advance_schedtick(*p, k_tick_run);
    wakep(p->rt);
    leave_processor(m);
    return true;
}

namespace {

// finish_under off a processor (its thread lost it to a hand-off, or it
// never had one): the goroutine leaves the registry it is in (whose owner
// refills the slot later) and is counted as an external finish. Out of
// line, so that the processor's path saves no registers for it (issue 14).
[[gnu::noinline, gnu::cold]] void finish_off_processor(goroutine* g, runtime_state& rt) noexcept {
    registry::erase(g, nullptr);
    rt.external_live.fetch_sub(1, std::memory_order_relaxed);
    rt.external_finished.fetch_add(1, std::memory_order_relaxed);
    dump_finish_point(rt);  // a dump may be reading g (goroutine_dump.hpp)
}

// finish_goroutine's work on `p`, held by this thread, but for what runs
// next (t_ctx.g, p.running) and the dump's finish point
// (dump_finish_point), which the caller does next (finish_on, or
// finish_goroutine's fast path).
[[gnu::always_inline]] inline void finish_before_dump_point(goroutine* g, processor& p) noexcept {
    registry::erase(g, &p.goroutines);
    add_live(p, -1);
    stat_add(p.stats.finished);
    // A run event.
    advance_schedtick(p, k_tick_run);
}

// finish_goroutine's work on `p`, held by this thread.
[[gnu::always_inline]] inline void finish_on(goroutine* g, processor& p) noexcept {
    t_ctx.g = nullptr;
    finish_before_dump_point(g, p);
    // g no longer runs (relaxed: the monitor only compares it). A
    // symmetric transfer that follows stores the next goroutine.
    p.running.store(nullptr, std::memory_order_relaxed);
    // A dump, or the monitor's report (the pin protocol in
    // runtime/sysmon.cpp), may be reading g: wait for it (goroutine_dump.hpp).
    dump_finish_point(p.rt);
}

// finish_goroutine's work, under the caller's scope on `held` (t_ctx.p).
inline void finish_under(goroutine* g, processor* held, const processor_scope& scope) noexcept {
    if (processor* p = scope.get()) [[likely]] {
        finish_on(g, *p);
        return;
    }
    t_ctx.g = nullptr;
    if (scope.lost()) {
        // Handed off: the processor's counters are its holder's now. The
        // monitor never pins a goroutine of a lost thread (it pins only the
        // one `running` names, and took the processor itself).
        finish_off_processor(g, held->rt);
    } else if (runtime_state* rt = current_runtime()) {
        finish_off_processor(g, *rt);
    }
}

// finish_goroutine in every case, under a processor_scope (see
// run_in_place_scoped).
[[gnu::noinline, gnu::cold]] void finish_goroutine_scoped(goroutine* g) noexcept {
    processor* held = t_ctx.p;
    const processor_scope scope(held, t_ctx.m);
    finish_under(g, held, scope);
}

// finish_goroutine's end while a dump reads the registries: waits for it
// (dump_finish_point's slow half), then leaves p.
[[gnu::noinline, gnu::cold]] void finish_wait(runtime_state& rt, machine* m) noexcept {
    wait_for_dump_readers(rt);
    leave_processor(m);
}

}  // namespace

[[gnu::noinline]] void finish_goroutine(goroutine* g) noexcept {
    processor* p = t_ctx.p;
    machine* m = t_ctx.m;
    if (!enter_from_task(p, m)) [[unlikely]]
        return finish_goroutine_scoped(g);
    // finish_on, with the dump's finish point's slow half a tail call, so
    // that the path above keeps nothing in callee-saved registers (issue 14).
    t_ctx.g = nullptr;
    finish_before_dump_point(g, *p);
    p->running.store(nullptr, std::memory_order_relaxed);
    if (dump_finish_must_wait(p->rt)) [[unlikely]]
        return finish_wait(p->rt, m);
    leave_processor(m);
}

bool runtime_stopping() noexcept {
    runtime_state* rt = current_runtime();
    // relaxed: a hint for I/O retries; shutdown's own ordering is elsewhere.
    return rt == nullptr || rt->stopping.load(std::memory_order_relaxed);
}

void main_finished() noexcept {
    runtime_state* rt = current_runtime();
    if (!rt) return;
    rt->stopping.store(true, std::memory_order_release);
    for (auto& p : rt->procs)
        if (p->netpoll) notify(*p);
    wake_spares(*rt);
}

void add_timer(timer_node* node, const char* api_name) {
    processor* p = current_processor();
    if (!p) throw no_runtime(api_name);
    const processor_scope scope(p, current_machine());
    // The heap has its own lock: a thread whose processor was handed off
    // may still add to it, and wakes the holder, whose park may be waiting
    // for a later deadline (or none).
    p->timers.add(node);
    if (scope.lost()) notify(*p);
}

void submit_blocking(blocking_job* job) {
    runtime_state* rt = current_runtime();
    if (!rt) throw no_runtime("goro::blocking");
    pool_submit(*rt, job);
}

}  // namespace goro::detail
