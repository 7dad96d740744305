// join_batch — the runtime's side of goro::join_all (join_all.hpp): one
// joiner waits for all of a set of goroutines it spawned. Internal.
//
// A join in spawn order costs, per child, the joiner's suspension and
// resumption and two runtime calls (run_in_place, end_in_place). A
// join_all suspends its joiner once:
//
//   1. join_batch_start (the awaiter's await_suspend) walks the children
//      from the last spawned to the first. Each unstarted one is the newest
//      item of the joiner's deque then, so the take finds it at once. The
//      first one taken runs in place (kind in_place_batch), as a nested task
//      of the running goroutine's record, exactly as run_in_place runs one:
//      on the record's in-place chain for dumps, a park inside it parks the
//      record.
//   2. Its end (task.hpp's final awaiter: join_batch_next) counts it
//      finished, marks its word done (join_word::mark_done_in_place) and
//      transfers straight into the next child it can take: one runtime
//      call a child, and no resumption of the joiner between children.
//      Past the cap on in-place runs (k_max_in_place_runs) the child taken
//      runs from the scheduler's loop instead, which resets the count: the
//      record is readied with the child as its resume point.
//   3. When no child is left to take (all ran, or the others were stolen,
//      or run by the loop), join_batch_wait
//      parks the record on every child not yet finished at once
//      (join_word::park_batch) with a count; the last of them to finish
//      resumes the record (join_batch_member_finished), as a finishing child
//      resumes its one parked joiner. With none left, the joiner resumes at
//      once.
//
// The joiner asked to wait for every child, so running any of them in
// place blocks nothing that it was not waiting for already: a child that
// parks parks the record, and its siblings stay on the deque for the loop
// and for thieves. (Running siblings ahead in the plain form, where the
// joiner has awaited only one of them, could deadlock a correct program.)
#pragma once

#include <atomic>
#include <coroutine>
#include <cstdint>

namespace goro::detail {

struct goroutine;

/// One join_all's state, in its awaiter (the joiner's frame). Only threads
/// running `record` touch it, but for `pending` in the wait (step 3 above).
struct join_batch {
    goroutine* const* children = nullptr;  // spawn order; each is kind joinable or in_place_batch
    std::uint32_t count = 0;
    // children[cursor - 1] is the next one to try to take (the walk goes
    // down to 0).
    std::uint32_t cursor = 0;
    goroutine* record = nullptr;    // the goroutine the joiner runs in
    goroutine* running = nullptr;   // the child running in place now, or null
    bool skipped = false;           // a child was not taken (the wait must read the words)
    std::coroutine_handle<> joiner;  // the joiner's continuation (await_resume)
    // The wait: a share per child and one for the record, which takes its
    // own and those of the children it could not park on (finished) back
    // at once, after trying them all; each child parked on takes its own at
    // its end. Whoever takes it to 0 resumes the record. acq_rel on every
    // change: the last one sees every child's result (each one's finish()
    // released it before its decrement) and the record's resume point.
    std::atomic<std::uint32_t> pending{0};
};

/// join_all's await_suspend: runs the first child it can take in place
/// (its handle), or parks the joiner until every child finished (noop), or
/// returns the joiner's continuation when all had finished. A null handle
/// when the calling thread runs no goroutine (the caller throws
/// goro::no_runtime).
std::coroutine_handle<> join_batch_start(join_batch* batch) noexcept;

/// The end of `child`, which a join_all ran in place (task.hpp's final
/// awaiter): what runs next, the next child, the joiner or nothing (the
/// record parked), as join_batch_start.
std::coroutine_handle<> join_batch_next(goroutine* child) noexcept;

/// The end of a child that a join_all waits for (not run in place), after
/// its finish_goroutine and its join word's finish(): the record to
/// resume, when this was the last child it waited for; else noop.
std::coroutine_handle<> join_batch_member_finished(join_batch* batch) noexcept;

}  // namespace goro::detail
