// goro::fj::all's runtime side: the region chain, work requests and
// promotion, and the end of a region whose children were partly promoted.
// The protocol is in detail/fork_join_region.hpp.
#include <atomic>
#include <cstddef>
#include <new>
#include <type_traits>

#include "detail/fork_join_region.hpp"
#include "detail/goroutine.hpp"
#include "detail/machine.hpp"
#include "detail/scheduler_internal.hpp"
#include "detail/scheduler_state.hpp"

namespace goro::detail {

// The library's own half of the bounded stack (k_fj_bounded_here; the
// awaiter picks fj_open_bounded for the user's): the transfers between
// children are compiled into the user's code, the ends' runtime calls into
// this library.
constexpr bool k_library_bounded = k_fj_bounded_here;

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
    return r.promoted + 1 < r.count && !r.frame(r.promoted + 1).done();
}

// Makes r's lowest unpromoted child (unstarted) a goroutine of its own,
// started as goro::spawn starts one, on p (entered and held by this
// thread, so the start cannot fail): a thief may take it. The child after
// it becomes the region's last run in place (kind fj_last), whose end waits
// for the promoted ones.
void promote(fj_region& r, processor& p) noexcept {
    const std::uint32_t i = r.promoted;
    goroutine* g = r.children[i];
    prepare_root(*g, r.frame(i), goroutine_kind::joinable, r.site);
    g->join_state.reset_running();
    start_goroutine_held(g, p);
    // The start's wakep read npidle and nspinning with no fence after the
    // push (scheduler.cpp, "Spinning and parking": a spawn's pusher runs
    // the work itself if the wake is lost). A region's thread does not come
    // back for it: it runs the region on, and while the child sits on its
    // deque no fork asks again (work_wanted wants the deque empty). So a
    // spinner that gave up as the push happened, missed by that wakep,
    // slept while its peer ran alone for seconds (nqueens at 2 threads:
    // one round in twenty, 2.2 -> 3.1 s, schedtrace showing idleprocs=1
    // beside a queued goroutine). Here the store-load order is paid: the
    // push is seen by the parker's re-check, or the parker by this wakep.
    // Promotions are rare (tens a run), so the fence costs nothing.
    store_load_fence();
    wakep(p.rt);
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
    // Only on a thread that holds its processor, entered for the start: one
    // that lost it (handed off) would start each child the slow way, from
    // outside, which may fail.
    processor* p = t_ctx.p;
    machine* m = t_ctx.m;
    if (!enter_from_task(p, m)) return;
    fj_region* target = nullptr;
    for (fj_region* r = innermost; r; r = r->outer)
        if (promotable(*r)) target = r;
    if (target) promote(*target, *p);
    leave_processor(m);
}

// Is g (the newest item of this thread's processor's deque) a child that
// one of this thread's open regions promoted, not yet stolen and never
// run? Then it waits for nobody but a thief or its own region, which
// runs it at its end: it holds up nothing. (Without this, every promotion
// a thief did not come for, because it found other work first, made the
// region look like one long run for as long as the child sat there:
// nqueens at 2 processors spent a third of its forks so, the monitor
// polled every millisecond instead of every quarter slice, and
// GORO_DEBUG=stuck reported the main task stuck for 300 ms at a time.)
// The region's promoted children are its latest promotions, and at most
// one sits on the deque (work_wanted promotes only into an empty one).
// A child that ran, parked and was readied here has a wait reason until
// it runs again (note_waiting): that one waits, and counts. relaxed:
// hints; the children's records live while their regions are open.
inline bool own_unrun_promotion(const thread_ctx& ctx, const goroutine* g) noexcept {
    if (!g || g->wait_reason.load(std::memory_order_relaxed) != nullptr) return false;
    return fj_chain_latest_promotion(ctx.fj_top, g);
}

// Does nothing wait on p that a long region would hold up? Nothing in its
// run-next slot or its deque (but a child of ours promoted and not yet
// stolen: own_unrun_promotion), no timer set, no I/O in flight on its
// netpoll, nothing in the global queue.
// Then a fork is a scheduling event, as a spawn is (queue_started): the
// monitor sees a run step, and a region that keeps forking is not taken
// for a stuck task (which handed a 1-processor skynet's processor off 46
// times, and sent every later promotion down the slow path of a thread
// without one). Otherwise it is not: the region counts as one long
// computation, and the monitor hands p off for what waits, as it does for
// any (a timer or a readied goroutine on p waited for the whole tree).
// Relaxed reads of hints, as the monitor's own.
inline bool nothing_waits(const processor& p, const thread_ctx& ctx) noexcept {
    if (runnext_holds(p.runnext.load(std::memory_order_relaxed))) return false;
    const std::size_t queued = p.deque.size_hint();
    if (queued > 1 || (queued == 1 && !own_unrun_promotion(ctx, p.deque.newest_hint()))) return false;
    if (p.rt.global_size.load(std::memory_order_relaxed) != 0) return false;
    if (p.timers.next_deadline() != timer_heap::k_never) return false;
    return !p.netpoll || p.netpoll->in_flight() == 0;
}

// Forks between two steps of schedtick (fj_step): the monitor polls every
// quarter slice at the most often, so a step in 16 forks (well under a
// microsecond of skynet) is as good as one per fork, and the step's
// processor entry and nothing_waits (33 instructions) are paid once.
constexpr unsigned k_fj_step_interval = 16;

// A fork's part that needs the processor: a schedtick step when nothing
// waits on it, and, where the stack is bounded, the count of in-place runs.
// True when the region must bounce through the loop (bounded only): past
// the cap, or with the processor lost (no count to keep without it: every
// region bounces, through the global queue, until a processor runs the
// goroutine again). Without the processor (handed off), nothing else.
[[gnu::noinline]] bool fj_step(thread_ctx& ctx, bool bounded) noexcept {
    processor* p = ctx.p;
    if (!enter_from_task(p, ctx.m)) return bounded;
    if (nothing_waits(*p, ctx)) [[likely]]
        advance_schedtick(*p, k_tick_run);
    // The loop resets the count when it resumes a goroutine.
    const bool bounce = bounded && ++p->in_place_runs > k_max_in_place_runs;
    leave_processor(ctx.m);
    return bounce;
}

// The bounce (see fj_region::bounded_stack): the record is readied with the
// region's first child as its resume point, so that it starts on a fresh
// stack from the loop. A suspension: the chain is emptied first. The wait
// reason as bounce_to_loop's (in_place_join.cpp): the record may reach a
// deque, and a joiner's take must not take it for a child that never ran.
[[gnu::noinline, gnu::cold]] std::coroutine_handle<> bounce_region(goroutine* record,
                                                                   std::coroutine_handle<> first) noexcept {
    forget_fj_regions();
    record->resume_point = first;
    note_waiting(record, "join");
    ready(record);
    return std::noop_coroutine();
}

// fj_open's paths other than the common one, each a tail call from it:
// with no call on its common path, fj_open saves no register (three saved
// and restored, 6 of its 35 instructions, when these were inline).

// Outside a goroutine (a task resumed by hand) the children just run one
// after another: nothing could take one.
[[gnu::noinline, gnu::cold]] std::coroutine_handle<> fj_open_outside(fj_region* r) noexcept {
    r->outer = nullptr;
    return {};
}

// One fork in k_fj_step_interval (every fork where the stack is bounded):
// the schedtick step and the bounce, then the work request.
[[gnu::noinline]] std::coroutine_handle<> fj_open_step(fj_region* r, bool bounded) noexcept {
    thread_ctx& ctx = t_ctx;
    if (fj_step(ctx, bounded)) return bounce_region(ctx.g, r->frame(r->count - 1));
    if (processor* p = ctx.p; p && work_wanted(*p)) [[unlikely]]
        promote_oldest(r);
    return {};
}

[[gnu::noinline, gnu::cold]] std::coroutine_handle<> fj_open_promote(fj_region* r) noexcept {
    promote_oldest(r);
    return {};
}

// fj_open and fj_open_bounded: `bounded` is a constant in each.
[[gnu::always_inline]] inline std::coroutine_handle<> open_region(fj_region* r, bool bounded) noexcept {
    GORO_ASSERT(r->count > 0 && r->children[0]->frame_link == r->joiner_handle());  // the awaiter chained them
    thread_ctx& ctx = t_ctx;
    if (!ctx.g) [[unlikely]]
        return fj_open_outside(r);
    r->outer = ctx.fj_top;
    ctx.fj_top = r;
    // What needs the processor, one fork in k_fj_step_interval (every fork
    // where the stack is bounded): the schedtick step and the bounce.
    if (bounded || ++ctx.fj_forks % k_fj_step_interval == 0) [[unlikely]]
        return fj_open_step(r, bounded);
    // A work request: relaxed reads of hints, with no processor entry.
    if (processor* p = ctx.p; p && work_wanted(*p)) [[unlikely]]
        return fj_open_promote(r);
    return {};
}

}  // namespace

[[gnu::noinline]] std::coroutine_handle<> fj_open(fj_region* r) noexcept { return open_region(r, k_library_bounded); }

[[gnu::noinline]] std::coroutine_handle<> fj_open_bounded(fj_region* r) noexcept { return open_region(r, true); }

[[gnu::noinline]] void fj_close(fj_region* r) noexcept {
    // The regions out of r are this goroutine's, open (r is nested in one of
    // their children), on whatever thread now runs it: they go back on the
    // chain, whether r was still on it, was taken off by fj_last_end, or
    // was forgotten at a suspension meanwhile.
    thread_ctx& ctx = t_ctx;
    if (ctx.g) ctx.fj_top = r->outer;
}

[[gnu::noinline]] std::coroutine_handle<> fj_last_end(goroutine* child) noexcept {
    // The batch lives in the region's first member: the region is at its
    // address.
    fj_region* r = std::launder(reinterpret_cast<fj_region*>(child->join_state.in_place_batch()));
    // Nothing of r is left to promote: off the chain, before the wait's
    // park (which empties the chain anyway) or the promoted children it
    // runs in place (which open regions of their own).
    t_ctx.fj_top = r->outer;
    join_batch* b = &r->batch();
    b->children = r->children;
    b->count = r->promoted;
    b->cursor = r->promoted;
    b->joiner = r->joiner_handle();
    const std::coroutine_handle<> next = join_batch_start(b);
    // Null only outside a goroutine, where nothing was promoted.
    return next ? next : r->joiner_handle();
}

}  // namespace goro::detail
