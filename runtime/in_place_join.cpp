// The fork-join fast path: a joiner that finds the child it waits for
// still unstarted on its own deque runs it right there, as a nested task of
// its own record, with no atomic hand-off and no trip through the
// scheduler (a Cilk-style "work-first" join).
//
//   - One child (join_handle's awaiter, go.hpp): run_in_place takes it,
//     end_in_place counts its finish, and its final transfer goes back to
//     the joiner.
//   - A batch (goro::join_all, join_all.hpp; the protocol is in
//     detail/join_batch.hpp): join_batch_start takes the first child,
//     join_batch_next ends each one and takes the next, and join_batch_wait
//     parks the joiner on the children it could not take.
//
// A child run in place is in no registry: a dump finds it on its record's
// in-place chain (registry_slot::in_place_child), pushed when it starts and
// popped when it ends (LIFO: what it runs in place meanwhile ends first).
// Only the record's run writes the chain.
#include "detail/fork_join_region.hpp"
#include "detail/goroutine_dump.hpp"
#include "detail/join_batch.hpp"
#include "detail/machine.hpp"
#include "detail/scheduler_internal.hpp"
#include "detail/scheduler_state.hpp"

namespace goro::detail {

namespace {

// Takes `child` (started, never run) off p's deque, held by this thread
// (under a scope, or a fast path's inlined entry), and pushes it onto
// `record`'s in-place chain; `setup(child)` writes what its end reads (its
// kind, join word and continuation) before the push publishes it. False
// with nothing changed when the child cannot be run in place. The caller
// minds the cap on in-place runs (k_max_in_place_runs).
//
// Batch: a join_all's take (take_next_in_batch). Its record was checked
// once, at the batch's start (join_batch_start: it has a registry slot,
// which it keeps while it runs), and its child is expected to be the
// newest item of the deque (work_deque::take's NewestFirst).
template <bool Batch, typename Setup>
[[gnu::always_inline]] inline bool take_in_place(processor& p, goroutine* record, goroutine* child,
                                                 Setup setup) noexcept {
    // Only a child that never ran: one that ran, parked and was readied onto
    // this deque has frames of its own suspended, perhaps a chain of its
    // own, and is run by the scheduler (the joiner parks on it). It parked
    // with a wait reason, which only its next run clears, and it got onto
    // this deque by a ready on this thread after that park: so this read
    // sees the reason. A child read without one that the take then finds
    // here was pushed by its spawn and never left (only this thread pushes
    // here). relaxed: that order is this thread's own.
    // The record's chain head is beside its registry slot
    // (registry_slot::in_place_child): a goroutine that runs is registered
    // (whoever took it out of a run queue registered it), so a record
    // without a slot does not happen; if it did, the join goes the long way.
    if constexpr (Batch) {
        GORO_ASSERT(record && record->reg_slot);
    } else {
        if (!record || !record->reg_slot) return false;
    }
    if (child->wait_reason.load(std::memory_order_relaxed) != nullptr) return false;
    // From the deque to the record's chain: a transit (transit_epoch), so
    // that a dump that reads the deque after the take and the chain before
    // the push below waits and reads again. begin_transit and end_transit
    // written out: task code is never inside another transit (the epoch is
    // even), so there is nothing to test. Each step one add to memory
    // (owner_add_release: no register holds the epoch across the take).
    GORO_ASSERT((p.transit_epoch.load(std::memory_order_relaxed) & 1) == 0);
    // release: more than begin_transit's relaxed store needs (the removal
    // that follows is a release), and what the one add gives.
    owner_add_release(p.transit_epoch, std::uint64_t{1});
    if (!p.deque.template take<Batch>(child, k_join_search_depth)) {
        owner_add_release(p.transit_epoch, std::uint64_t{1});  // release: as end_transit
        return false;
    }
    ++p.in_place_runs;
    // From here the child is a nested task of `record` (the running
    // goroutine's record: the joiner's own, or the one the joiner runs in
    // place in): no registry slot and no switch of the running goroutine.
    // Nothing else can see it: it is off every queue, and its handle is in
    // the joiner's awaiter. Plain stores: only this thread (and whoever
    // resumes the record) reads these.
    setup(child);
    // Onto the record's chain (release: publishes the child's link and
    // fields to a dump's acquire read of the chain).
    std::atomic<goroutine*>& chain = record->reg_slot->in_place_child;
    child->queue_next = chain.load(std::memory_order_relaxed);
    chain.store(child, std::memory_order_release);
    owner_add_release(p.transit_epoch, std::uint64_t{1});  // release: as end_transit
    // Usually never registered (lazy registration); one started by a
    // thread without a processor was (the external registry): it leaves
    // it after the push, since a dump reads the chains after the
    // registries.
    registry::erase(child, &p.goroutines);
    // A run event (the monitor's sign of progress), as a scheduled run is.
    advance_schedtick(p, k_tick_run);
    return true;
}

// Pops `child`, which has ended, off `record`'s in-place chain. (Not in
// the joiner's await_resume: g++ may suspend for `co_await b` in
// `co_await a + co_await b` before it calls a's await_resume.)
[[gnu::always_inline]] inline void pop_in_place(goroutine* record, goroutine* child) noexcept {
    // The record is running (this is its run), so its slot is its own.
    std::atomic<goroutine*>& chain = record->reg_slot->in_place_child;
    GORO_ASSERT(chain.load(std::memory_order_relaxed) == child);
    // relaxed: the dump's pin orders it, as the registry's erase.
    chain.store(child->queue_next, std::memory_order_relaxed);
}

// A finish of a child run in place, counted on the processor this thread
// holds (it left the registry when it started: the chain stood for it),
// as finish_goroutine counts.
[[gnu::always_inline]] inline void count_in_place_finish(processor& p) noexcept {
    add_live(p, -1);
    stat_add(p.stats.finished);
}

// The same, under a processor_scope: on the processor; or, handed off or
// never on one, as an external finish (the live count is a sum, so which
// part of it a finish lowers is free), as finish_off_processor counts one.
// The runtime the finish belongs to, or null outside one.
runtime_state* count_in_place_finish_scoped(const processor_scope& scope, processor* held) noexcept {
    if (processor* p = scope.get()) {
        count_in_place_finish(*p);
        return &p->rt;
    }
    runtime_state* rt = scope.lost() ? &held->rt : current_runtime();
    if (!rt) return nullptr;
    rt->external_live.fetch_sub(1, std::memory_order_relaxed);
    rt->external_finished.fetch_add(1, std::memory_order_relaxed);
    return rt;
}

// run_in_place's work on `p`.
[[gnu::always_inline]] inline bool run_in_place_on(processor& p, goroutine* child,
                                                   std::coroutine_handle<> joiner_resume) noexcept {
    // At its end (task.hpp's final awaiter) end_in_place, which counts its
    // finish, then a plain transfer back to the joiner.
    if (p.in_place_runs >= k_max_in_place_runs) return false;
    goroutine* record = t_ctx.g;
    return take_in_place<false>(p, record, child, [record, joiner_resume](goroutine* c) {
        c->kind = goroutine_kind::in_place;
        c->frame_link = joiner_resume;
        c->join_state.set_in_place_record(record);
    });
}

// run_in_place in every case: under a processor_scope, which handles a
// thread without a processor, one inside the loop or another scope, and one
// whose processor is being handed off.
[[gnu::noinline, gnu::cold]] bool run_in_place_scoped(goroutine* child,
                                                      std::coroutine_handle<> joiner_resume) noexcept {
    const processor_scope scope(t_ctx.p, t_ctx.m);
    processor* p = scope.get();
    return p && run_in_place_on(*p, child, joiner_resume);
}

// end_in_place's count of the finish in every case, and the dump's finish
// point, under a processor_scope (see run_in_place_scoped).
[[gnu::noinline, gnu::cold]] void end_in_place_scoped() noexcept {
    processor* held = t_ctx.p;
    const processor_scope scope(held, t_ctx.m);
    if (runtime_state* rt = count_in_place_finish_scoped(scope, held)) dump_finish_point(*rt);
}

// end_in_place's end while a dump reads the chains: waits for it
// (dump_finish_point's slow half), then leaves p.
[[gnu::noinline, gnu::cold]] void end_in_place_wait(runtime_state& rt, machine* m) noexcept {
    wait_for_dump_readers(rt);
    leave_processor(m);
}

}  // namespace

[[gnu::noinline]] bool run_in_place(goroutine* child, std::coroutine_handle<> joiner_resume) noexcept {
    processor* p = t_ctx.p;
    machine* m = t_ctx.m;
    if (!enter_from_task(p, m)) [[unlikely]]
        return run_in_place_scoped(child, joiner_resume);
    const bool ran = run_in_place_on(*p, child, joiner_resume);
    leave_processor(m);
    return ran;
}

[[gnu::noinline]] void end_in_place(goroutine* child) noexcept {
    pop_in_place(child->join_state.in_place_record(), child);
    processor* p = t_ctx.p;
    machine* m = t_ctx.m;
    if (!enter_from_task(p, m)) [[unlikely]]
        return end_in_place_scoped();
    count_in_place_finish(*p);
    // The dump's finish point (goroutine_dump.hpp): a dump that read the
    // chain before the pop may still copy the child's fields, and the
    // joiner frees the frame once it resumes. The slow half a tail call,
    // as finish_goroutine's.
    if (dump_finish_must_wait(p->rt)) [[unlikely]]
        return end_in_place_wait(p->rt, m);
    leave_processor(m);
}

// ---- goro::join_all (detail/join_batch.hpp) ----

namespace {

// The batch's next child to run in place, taken off p's deque (held by this
// thread), or null when none is left to take. Walks down from the cursor:
// the children spawned last are the newest items of the deque, so each take
// finds its child at once. A child it cannot take (finished, stolen, run by
// the loop, or parked) is left for the wait (`skipped`).
//
// Past the cap on in-place runs (k_max_in_place_runs) it takes the child
// all the same: the caller then runs it from the loop (bounce_to_loop).
// Sets b->running to what it returns.
[[gnu::always_inline]] inline goroutine* take_next_in_batch(processor& p, join_batch* b) noexcept {
    while (b->cursor != 0) {
        goroutine* child = b->children[--b->cursor];
        // acquire, as join_handle's await_ready: a finished child needs no
        // take (the wait reads it as done).
        const bool taken = !child->join_state.done() &&
                           take_in_place<true>(p, b->record, child, [b](goroutine* c) {
                               // frame_link stays the child's own frame: its end
                               // goes to join_batch_next, which picks what runs next.
                               c->kind = goroutine_kind::in_place_batch;
                               c->join_state.set_in_place_batch(b);
                           });
        if (taken) {
            b->running = child;
            return child;
        }
        b->skipped = true;
    }
    b->running = nullptr;
    return nullptr;
}

// True when `next` was taken past the cap (see take_next_in_batch).
[[gnu::always_inline]] inline bool past_in_place_cap(const processor& p) noexcept {
    return p.in_place_runs > k_max_in_place_runs;
}

// take_next_in_batch under a processor_scope (see run_in_place_scoped);
// none without a processor. `bounce`: see past_in_place_cap.
[[gnu::noinline, gnu::cold]] goroutine* take_next_in_batch_scoped(join_batch* b, bool& bounce) noexcept {
    const processor_scope scope(t_ctx.p, t_ctx.m);
    processor* p = scope.get();
    if (!p) {
        b->running = nullptr;
        return nullptr;
    }
    goroutine* next = take_next_in_batch(*p, b);
    bounce = next && past_in_place_cap(*p);
    return next;
}

// The batch's step 3 (detail/join_batch.hpp): every child has been run in
// place or could not be; parks the record on those not finished yet, or
// returns the joiner when none is left.
std::coroutine_handle<> join_batch_wait(join_batch* b) noexcept {
    // Every child ran in place (and is done): nothing to read. (The walk
    // may also have stopped early: a thread that lost its processor takes
    // no more children, and the rest are waited for.)
    if (!b->skipped && b->cursor == 0) [[likely]]
        return b->joiner;
    goroutine* record = b->record;
    // Written before the first park_batch publishes the batch (its release).
    record->resume_point = b->joiner;
    forget_fj_regions();  // a suspension
    note_waiting(record, "join");
    // One share per child and one for the record, which takes back the
    // shares of the children it did not park on (finished already) with
    // its own, once it has tried them all: until then no child's finish
    // can take the count to 0 and resume the record before it has parked.
    b->pending.store(b->count + 1, std::memory_order_relaxed);
    std::uint32_t unparked = 1;
    for (std::uint32_t i = 0; i < b->count; ++i) {
        goroutine* child = b->children[i];
        // acquire (done) or acq_rel (park_batch, which fails when the
        // child finished meanwhile): either way its result is seen.
        if (child->join_state.done() || !child->join_state.park_batch(b)) ++unparked;
    }
    // The parks above published the batch before this decrement (program
    // order); acq_rel: the last decrement, whoever makes it, sees every
    // finished child's result (each one's finish() released it before its
    // own decrement).
    if (b->pending.fetch_sub(unparked, std::memory_order_acq_rel) != unparked) return std::noop_coroutine();
    // All finished meanwhile: continue at once, as running.
    record->wait_reason.store(nullptr, std::memory_order_relaxed);
    return b->joiner;
}

// `next`, taken past the cap on in-place runs, runs from the scheduler's
// loop, which resets the count: the record parks on the join and is readied
// at once into this processor's run-next slot, to resume there with `next`
// as its resume point. Every transfer nests a native frame where the
// compiler makes no tail calls (-O0, the sanitizers): a visit of the loop
// now and then keeps the stack bounded, as for the one-child join.
//
// The park's wait reason matters: the record may reach a deque (displaced
// from run-next by a later ready) and is a spawned child of someone, whose
// own join must not take it for a child that never ran (take_in_place reads
// a wait reason as "it ran"). Its next run clears it.
[[gnu::noinline, gnu::cold]] std::coroutine_handle<> bounce_to_loop(join_batch* b, goroutine* next) noexcept {
    goroutine* record = b->record;
    record->resume_point = next->frame_link;
    forget_fj_regions();  // a suspension
    note_waiting(record, "join");
    ready(record);
    return std::noop_coroutine();
}

// What runs after the batch's step that took `next` (or none).
inline std::coroutine_handle<> batch_continue(join_batch* b, goroutine* next, bool bounce) noexcept {
    if (bounce) [[unlikely]]
        return bounce_to_loop(b, next);
    // frame_link: the child's own frame (take_next_in_batch keeps it).
    if (next) [[likely]]
        return next->frame_link;
    return join_batch_wait(b);
}

// join_batch_next's count of the finish and its next take, under a
// processor_scope (see run_in_place_scoped).
[[gnu::noinline, gnu::cold]] std::coroutine_handle<> join_batch_next_scoped(join_batch* b) noexcept {
    goroutine* next = nullptr;
    bool bounce = false;
    {
        processor* held = t_ctx.p;
        const processor_scope scope(held, t_ctx.m);
        runtime_state* rt = count_in_place_finish_scoped(scope, held);
        if (processor* p = scope.get()) {
            next = take_next_in_batch(*p, b);
            bounce = next && past_in_place_cap(*p);
        } else {
            b->running = nullptr;
        }
        if (rt) dump_finish_point(*rt);
    }
    return batch_continue(b, next, bounce);
}

}  // namespace

[[gnu::noinline]] std::coroutine_handle<> join_batch_start(join_batch* b) noexcept {
    b->record = t_ctx.g;
    if (!b->record) return {};
    // The record's check for every take of the batch (take_in_place's
    // Batch): a goroutine that runs is registered (whoever took it out of a
    // run queue registered it), and keeps its slot until it finishes, which
    // it cannot do inside this join. Without one (it does not happen), no
    // child runs in place: the wait takes them all.
    if (!b->record->reg_slot) [[unlikely]] {
        b->skipped = true;
        return join_batch_wait(b);
    }
    processor* p = t_ctx.p;
    machine* m = t_ctx.m;
    goroutine* next = nullptr;
    bool bounce = false;
    if (!enter_from_task(p, m)) [[unlikely]] {
        next = take_next_in_batch_scoped(b, bounce);
    } else {
        next = take_next_in_batch(*p, b);
        bounce = next && past_in_place_cap(*p);
        leave_processor(m);
    }
    return batch_continue(b, next, bounce);
}

[[gnu::noinline]] std::coroutine_handle<> join_batch_next(goroutine* child) noexcept {
    // The two kinds task.hpp's final awaiter sends here (`> in_place`).
    if (child->kind == goroutine_kind::fj_last) [[unlikely]]
        return fj_last_end(child);
    join_batch* b = child->join_state.in_place_batch();
    pop_in_place(b->record, child);
    // Done, as a finished child's word: the join_all reads it so (its wait,
    // its await_resume and its destructor).
    child->join_state.mark_done_in_place();
    // b->running: the next take sets it (take_next_in_batch, or its scoped
    // form).
    processor* p = t_ctx.p;
    machine* m = t_ctx.m;
    if (!enter_from_task(p, m)) [[unlikely]]
        return join_batch_next_scoped(b);
    count_in_place_finish(*p);
    // The dump's finish point, as end_in_place's: the frame is freed by
    // the join_all's await_resume, after this.
    if (dump_finish_must_wait(p->rt)) [[unlikely]]
        wait_for_dump_readers(p->rt);
    goroutine* next = take_next_in_batch(*p, b);
    const bool bounce = next && past_in_place_cap(*p);
    leave_processor(m);
    return batch_continue(b, next, bounce);
}

[[gnu::noinline]] std::coroutine_handle<> join_batch_member_finished(join_batch* b) noexcept {
    // Not the last: the batch may be gone (its record resumed) the moment
    // this decrement is seen, so nothing here reads it after.
    if (b->pending.fetch_sub(1, std::memory_order_acq_rel) != 1) return std::noop_coroutine();
    goroutine* record = b->record;
    // The record parked (join_batch_wait): run it right here, as a
    // finishing child runs its one parked joiner (task.hpp).
    switch_to(record);
    return record->resume_point;
}

}  // namespace goro::detail
