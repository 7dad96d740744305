// goro::fj::all's runtime side: the region chain, work requests and
// promotion, and the end of a region whose children were partly promoted.
// The protocol is in detail/fork_join_region.hpp.
#include <new>
#include <type_traits>

#include "detail/fork_join_region.hpp"
#include "detail/goroutine.hpp"
#include "detail/machine.hpp"
#include "detail/scheduler_internal.hpp"
#include "detail/scheduler_state.hpp"

// Where symmetric transfer may not be a tail call (no optimization, or a
// sanitizer), every transfer between the region's children nests a native
// frame, and a whole fork-join tree would nest them all (ASan overflowed
// the stack at fib(20)). There a region opened past the cap on in-place
// runs goes through the scheduler's loop first, as join_all's bounce does.
// Optimized builds never do it: a bounce is a suspension, which takes the
// regions around it off the chain (no more promotions from them).
#if !defined(__OPTIMIZE__) || defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define GORO_FJ_BOUNDED_STACK 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define GORO_FJ_BOUNDED_STACK 1
#endif
#endif

namespace goro::detail {

// fj_last_end finds its region from the batch its join word holds: the
// batch is the region's first member, at the region's own address.
static_assert(std::is_standard_layout_v<fj_region> && offsetof(fj_region, batch_storage) == 0);
// Never destroyed: the region's storage just ends with the awaiter.
static_assert(std::is_trivially_destructible_v<join_batch>);

namespace {

// Does any processor want work that p could give it? An idle or spinning
// processor, and nothing on p's deque for it to steal already. Relaxed
// reads of hints: a wrong answer costs one promotion too many or a request
// answered at the next fork. p may have been handed off (the thread is
// running task code): its deque's indices are atomics, read as a hint.
inline bool work_wanted(processor& p) noexcept {
    const runtime_state& rt = p.rt;
    if ((rt.npidle.load(std::memory_order_relaxed) | rt.nspinning.load(std::memory_order_relaxed)) == 0) [[likely]]
        return false;
    return p.deque.empty_hint();
}

// Is r's lowest unpromoted child unstarted (and not its last)? Children
// run in place from the last index down, so c[i] is unstarted exactly when
// c[i + 1] has not finished. done() on a suspended frame: c[i + 1] is
// either unstarted or suspended inside its own awaits (this code runs
// below it).
inline bool promotable(const fj_region& r) noexcept {
    return r.promoted + 1 < r.count && !r.frames[r.promoted + 1].done();
}

// Makes r's lowest unpromoted child (unstarted) a goroutine of its own,
// started as goro::spawn starts one: a thief may take it. The child after
// it becomes the region's last run in place (kind fj_last), whose end waits
// for the promoted ones. When the start fails (the runtime is closing),
// nothing changes: the child runs in place.
void promote(fj_region& r) noexcept {
    const std::uint32_t i = r.promoted;
    goroutine* g = r.children[i];
    const std::coroutine_handle<> link = g->frame_link;  // c[i - 1], or the joiner
    const goroutine_kind kind = g->kind;                 // nested, or fj_last (i > 0)
    g->kind = goroutine_kind::joinable;
    g->spawn_site = r.site;
    g->frame_link = r.frames[i];
    g->resume_point = r.frames[i];
    g->join_state.reset_running();
    try {
        start_goroutine(g, "goro::fj::all");
    } catch (...) {
        g->kind = kind;
        g->frame_link = link;
        if (kind == goroutine_kind::fj_last) g->join_state.set_in_place_batch(&r.batch());
        return;
    }
    if (i == 0) new (r.batch_storage) join_batch{};  // the region's first promotion
    r.promoted = i + 1;
    goroutine* last = r.children[i + 1];
    last->kind = goroutine_kind::fj_last;
    last->join_state.set_in_place_batch(&r.batch());
}

// A work request: promotes the oldest unstarted child on the chain, the
// lowest unpromoted one of the outermost region that has one (the root of
// the largest unexplored subtree, as a thief of a Chase-Lev deque would
// take).
[[gnu::noinline, gnu::cold]] void promote_oldest(fj_region* innermost) noexcept {
    fj_region* target = nullptr;
    for (fj_region* r = innermost; r; r = r->outer)
        if (promotable(*r)) target = r;
    if (target) promote(*target);
}

#ifdef GORO_FJ_BOUNDED_STACK
// The bounce (see GORO_FJ_BOUNDED_STACK): the record is readied with the
// region's first child as its resume point, so that it starts on a fresh
// stack from the loop. A suspension: the chain is emptied first. The wait
// reason as bounce_to_loop's (in_place_join.cpp): the record may reach a
// deque, and a joiner's take must not take it for a child that never ran.
[[gnu::noinline, gnu::cold]] std::coroutine_handle<> bounce_region(goroutine* record,
                                                                   std::coroutine_handle<> first) noexcept {
    t_ctx.fj_top = nullptr;
    record->resume_point = first;
    note_waiting(record, "join");
    ready(record);
    return std::noop_coroutine();
}
#endif

}  // namespace

[[gnu::noinline]] std::coroutine_handle<> fj_open(fj_region* r) noexcept {
    goroutine* const* c = r->children;
    const std::coroutine_handle<>* f = r->frames;
    const std::uint32_t n = r->count;
    GORO_ASSERT(n > 0);
    // The in-place chain: each child's end starts the one below it.
    c[0]->frame_link = r->joiner;
    for (std::uint32_t i = 1; i < n; ++i) c[i]->frame_link = f[i - 1];
    thread_ctx& ctx = t_ctx;
    // Outside a goroutine (a task resumed by hand) the children just run
    // one after another: nothing could take one.
    if (ctx.g) [[likely]] {
        r->outer = ctx.fj_top;
        ctx.fj_top = r;
        processor* p = ctx.p;
        // Without the processor (handed off: the thread runs on without
        // one), neither: the region just runs in place.
        if (enter_from_task(p, ctx.m)) [[likely]] {
            // A fork is a scheduling event, as a spawn is (queue_started):
            // the monitor sees a run step, so a region that keeps forking
            // is not taken for a stuck task and handed off (which cost a
            // thread more and a slow path per promotion). A region whose
            // leaves compute for a slice is handed off as any computation.
            advance_schedtick(*p, k_tick_run);
            const bool wanted = work_wanted(*p);
#ifdef GORO_FJ_BOUNDED_STACK
            // The loop resets the count when it resumes a goroutine.
            const bool bounce = ++p->in_place_runs > k_max_in_place_runs;
            leave_processor(ctx.m);
            if (bounce) return bounce_region(ctx.g, f[n - 1]);
#else
            leave_processor(ctx.m);
#endif
            if (wanted) [[unlikely]]
                promote_oldest(r);
        }
    }
    return f[n - 1];
}

[[gnu::noinline]] void fj_close(fj_region* r) noexcept {
    // The regions out of r are this goroutine's, open (r is nested in one of
    // their children), on whatever thread now runs it: they go back on the
    // chain, whether r was still on it, was taken off by fj_last_end, or
    // was forgotten at a suspension meanwhile.
    thread_ctx& ctx = t_ctx;
    if (ctx.g) ctx.fj_top = r->outer;
}

[[gnu::noinline]] std::coroutine_handle<> fj_last_end(goroutine* child) noexcept {
    fj_region* r = reinterpret_cast<fj_region*>(child->join_state.in_place_batch());
    // Nothing of r is left to promote: off the chain, before the wait's
    // park (which empties the chain anyway) or the promoted children it
    // runs in place (which open regions of their own).
    t_ctx.fj_top = r->outer;
    join_batch* b = &r->batch();
    b->children = r->children;
    b->count = r->promoted;
    b->cursor = r->promoted;
    b->joiner = r->joiner;
    const std::coroutine_handle<> next = join_batch_start(b);
    // Null only outside a goroutine, where nothing was promoted.
    return next ? next : r->joiner;
}

}  // namespace goro::detail
