// fork_join_region — the runtime's side of goro::fj::all (fork_join.hpp):
// a set of children run in place on the calling goroutine, made goroutines
// only when an idle processor wants work. Internal.
//
// The protocol, for children c[0..n):
//
//   1. The awaiter's await_suspend chains the children as nested tasks:
//      c[i]'s continuation (frame_link) is c[i-1], c[0]'s is the joiner;
//      then it calls fj_open (fj_open_bounded where its build has no tail
//      calls). So c[n-1] runs first and each end transfers straight into
//      the next (the task's plain nested end: no runtime call between
//      children). It pushes the region onto this thread's chain of open
//      regions (thread_ctx::fj_top, innermost first).
//   2. Work requests. At every fj_open, if some processor is idle or
//      spinning and this processor's deque is empty (nothing there for it
//      to steal already), the oldest unstarted child of the outermost
//      region on the chain is promoted (promote_oldest): prepared as a
//      spawned goroutine (kind joinable) and started, so a thief can take
//      it. Promotion takes c[p], the lowest index not yet promoted, the
//      last one the in-place chain would reach; c[p] is unstarted exactly
//      when c[p + 1] has not finished (children run from n - 1 down). The
//      promoted ones are the prefix [0, promoted).
//   3. The last child run in place, c[promoted], ends the region. With none
//      promoted it is c[0], a plain nested task that resumes the joiner.
//      Otherwise it is kind fj_last (its join word holds the region's
//      batch) and its end (fj_last_end, from join_batch_next) waits for
//      the promoted ones as a goro::join_all does (detail/join_batch.hpp):
//      those still on this deque run in place, the rest are parked on.
//   4. fj_close (the awaiter's await_resume) pops the region off the chain.
//
// The monitor: one fork in 16 steps the processor's schedtick, as a spawn
// does, while nothing else waits on the processor (fj_step); when
// something does, the region counts as one long computation and is handed
// off like any.
//
// The chain names regions of the goroutine this thread runs, and promotion
// touches their children: so it must never name another goroutine's. It is
// emptied before every suspension of the running goroutine (a park, a
// yield, a bounce through the loop: current_goroutine(), the in-place
// join's parks and bounces call forget_fj_regions), and the scheduler
// asserts it empty whenever it switches goroutines. Regions forgotten so are not promoted
// from any more: their unstarted children run in place, after the park.
// That is also why a child must not wait for a sibling (fork_join.hpp): a
// child parked on one parks the whole region, and the sibling may be an
// unstarted child behind it.
#pragma once

#include <coroutine>
#include <cstdint>
#include <new>
#include <source_location>

#include "join_batch.hpp"
#include "tail_calls.hpp"

namespace goro::detail {

struct goroutine;

/// Whether symmetric transfer may not be a tail call in the translation
/// unit that includes this (no optimization, a sanitizer). Then every
/// transfer between children nests a native frame, and a whole tree would
/// nest them all (ASan overflowed the stack at fib(20); a -O0 program
/// against a release library at fib(25)), so the stack is *bounded*: a
/// region opened past the cap on in-place runs goes through the
/// scheduler's loop first, as join_all's bounce does. Optimized code never
/// does: a bounce is a suspension, after which the regions around it hand
/// out no more work. Not inline, so each translation unit has its own
/// value: fork_join.hpp's awaiter calls fj_open_bounded where the user's
/// build needs it, and fork_join.cpp bounds every region where the
/// library's does.
constexpr bool k_fj_bounded_here = !GORO_TAIL_CALLS;

/// One fj::all's state, in its awaiter (the joiner's frame), written by
/// the awaiter (its count, promoted and site at construction, the rest at
/// await_suspend) and by fj_open. Only the thread running the
/// joiner's goroutine touches it, but for the batch's wait (join_batch.hpp).
struct fj_region {
    // The wait for the promoted children: constructed by the first
    // promotion (most regions have none, and pay nothing for it), read only
    // when `promoted` is not 0. First, at the region's own address: the
    // last child's end finds the region from it (fj_last_end).
    alignas(join_batch) unsigned char batch_storage[sizeof(join_batch)];
    fj_region* outer;                             // the next region out on the chain (fj_open)
    goroutine* const* children;                   // the children's records, index order
    void* const* frames;                          // their frames' addresses, index order
    std::uint32_t count;
    std::uint32_t promoted;                       // children [0, promoted) are goroutines
    // The awaiter's continuation, its frame's address: a handle would null
    // itself at construction, a store in every fork for nothing.
    void* joiner;
    std::source_location site;                    // named by promoted children (dumps)

    join_batch& batch() noexcept { return *std::launder(reinterpret_cast<join_batch*>(batch_storage)); }
    std::coroutine_handle<> joiner_handle() const noexcept { return std::coroutine_handle<>::from_address(joiner); }
    std::coroutine_handle<> frame(std::uint32_t i) const noexcept {
        return std::coroutine_handle<>::from_address(frames[i]);
    }
};

/// Whether g is the latest promotion of one of the regions on the chain
/// from `innermost` outwards: children[promoted - 1] of a region that has
/// promoted any. Pointers are only compared. The monitor's view of a
/// region uses it (fork_join.cpp, own_unrun_promotion): such a child on
/// the region's own deque holds up nothing.
inline bool fj_chain_latest_promotion(const fj_region* innermost, const goroutine* g) noexcept {
    for (const fj_region* r = innermost; r; r = r->outer)
        if (r->promoted != 0 && r->children[r->promoted - 1] == g) return true;
    return false;
}

/// fj::all's await_suspend, once the children are chained: opens the
/// region, answers a work request; returns null when the first child
/// (c[count - 1]) runs next, as it does but for a bounce (then where to go
/// instead). The awaiter holds the first child's address in a register;
/// returning it from here was three loads through the region, two of
/// them of stores just made (g++ fib 3 % slower). count > 0.
std::coroutine_handle<> fj_open(fj_region* r) noexcept;

/// fj_open for an awaiter compiled where the stack is bounded
/// (k_fj_bounded_here): every fork counts its in-place run. Two entries,
/// not a flag in the region: the flag was a store in every fork and a load
/// that fj_open waited on.
std::coroutine_handle<> fj_open_bounded(fj_region* r) noexcept;

/// fj::all's await_resume, first: takes the region off the chain.
void fj_close(fj_region* r) noexcept;

/// The end of a region's last child run in place when some were promoted
/// (kind fj_last; join_batch_next dispatches it): what runs next.
std::coroutine_handle<> fj_last_end(goroutine* child) noexcept;

}  // namespace goro::detail
