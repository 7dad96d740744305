// join_word — the join protocol of a goroutine started by goro::spawn: one
// atomic word through which the task's completion meets its join_handle.
// Internal.
//
// States (the word's value):
//
//   running   nullptr          the task runs or waits to; nobody awaits it
//   awaited   a goroutine*     a join_handle's awaiter parked on it
//   batched   a join_batch*|4  a goro::join_all waits for it with its
//                              siblings (detail/join_batch.hpp)
//   done      k_done           finished: the result is in the frame, which
//                              the handle's side frees
//   detached  k_detached       the handle was dropped: the task frees its
//                              own frame when it finishes
//
// Transitions, each one call below:
//
//   running  -> awaited   park_joiner()  the joiner (CAS: fails when the
//                                        task finished first)
//   running  -> batched   park_batch()   the same, for a join_all
//   running  -> done      finish()       the task (exchange): nobody to wake
//   awaited  -> done      finish()       the task: it resumes the joiner
//   batched  -> done      finish()       the task: it counts itself off the
//                                        batch, the last one resumes it
//   running  -> detached  detach()       the handle (exchange)
//   detached -> (freed)   finish()       the task sees "detached" and frees
//                                        itself (an escaped exception is
//                                        then a panic, as for goro::go)
//   done     -> (freed)   detach()       the handle sees "done" and frees it
//
// The in-place join (the fork-join fast path, go.hpp) does not use the
// protocol: a joiner that took the task, never started, off its own deque
// runs it as a nested task (run_in_place) and takes its result directly;
// the word then holds the record it runs in (set_in_place_record), or, for
// a child that a join_all runs in place, that join_all's batch
// (set_in_place_batch), and then `done` once it ended
// (mark_done_in_place), which the join_all reads as any finished child's.
//
// Shutdown (scheduler.cpp) destroys unfinished goroutines with the world
// stopped: mark_done_at_shutdown() hands a still-owned frame to its handle.
//
// A group member (goro::group) has no join_handle; its word holds its
// group's state instead (a counted reference, see group_state.hpp), set
// before the goroutine starts: set_group() and group().
#pragma once

#include <atomic>
#include <cstdint>

namespace goro::detail {

struct goroutine;
struct group_state;
struct join_batch;

class join_word {
public:
    /// What finish() found.
    struct finish_outcome {
        // Who waits: nullptr (nobody), the parked joiner (a goroutine*) or
        // a join_all's batch, tagged (is_batch, batch_of).
        void* waiter;
        bool detached;  // the handle was dropped: the task frees itself
    };

    /// finish()'s waiter: a join_all's batch, not a goroutine.
    static bool is_batch(void* waiter) noexcept {
        return (reinterpret_cast<std::uintptr_t>(waiter) & k_batch_tag) != 0;
    }
    static join_batch* batch_of(void* waiter) noexcept {
        return reinterpret_cast<join_batch*>(reinterpret_cast<std::uintptr_t>(waiter) & ~k_batch_tag);
    }

    /// Any thread. True once the task finished. acquire: pairs with
    /// finish()'s release, so the caller sees the task's result.
    bool done() const noexcept { return m_word.load(std::memory_order_acquire) == k_done; }

    /// The joiner, after the task's start: waits for the task. True when
    /// parked (finish() will resume `self`); false when the task finished
    /// meanwhile (continue at once). release: publishes self's resume point
    /// to the finishing task; acquire on failure: sees its result.
    bool park_joiner(goroutine* self) noexcept {
        void* expected = k_running;
        return m_word.compare_exchange_strong(expected, self, std::memory_order_acq_rel, std::memory_order_acquire);
    }

    /// A join_all (detail/join_batch.hpp), after the task's start: the
    /// same as park_joiner, for its batch (tagged, so that finish() tells
    /// it from a parked goroutine). The same orders, for the batch's fields.
    bool park_batch(join_batch* batch) noexcept {
        void* expected = k_running;
        void* tagged = reinterpret_cast<void*>(reinterpret_cast<std::uintptr_t>(batch) | k_batch_tag);
        return m_word.compare_exchange_strong(expected, tagged, std::memory_order_acq_rel,
                                              std::memory_order_acquire);
    }

    /// The task, at its end (not run in place). acq_rel: release publishes
    /// the result to the joiner; acquire sees the joiner's resume point.
    /// Inline: every joinable end not run in place takes it (issue 14).
    [[gnu::always_inline]] finish_outcome finish() noexcept {
        void* old = m_word.exchange(k_done, std::memory_order_acq_rel);
        if (old == k_detached) return {nullptr, true};
        return {old, false};
    }

    /// The handle (dropped, or its awaiter destroyed at shutdown). True when
    /// the task had finished: the caller frees the frame. acq_rel: acquire
    /// the finished task's writes before freeing it.
    bool detach() noexcept { return m_word.exchange(k_detached, std::memory_order_acq_rel) == k_done; }

    /// The in-place join: the record the task runs in, set by its joiner
    /// before the task runs and read at its end, both by threads running
    /// that record (relaxed: the record's hand-offs between threads order
    /// them, as they order the rest of its frames).
    void set_in_place_record(goroutine* record) noexcept { m_word.store(record, std::memory_order_relaxed); }
    goroutine* in_place_record() const noexcept {
        return static_cast<goroutine*>(m_word.load(std::memory_order_relaxed));
    }

    /// The same for a child that a join_all runs in place: its batch, set
    /// and read by threads running the batch's record (relaxed, as above).
    void set_in_place_batch(join_batch* batch) noexcept { m_word.store(batch, std::memory_order_relaxed); }
    join_batch* in_place_batch() const noexcept {
        return static_cast<join_batch*>(m_word.load(std::memory_order_relaxed));
    }

    /// A goro::fj::all child about to become a goroutine
    /// (detail/fork_join_region.hpp): back to running, whatever its word held
    /// as the nested task it was (relaxed: its start publishes it).
    void reset_running() noexcept { m_word.store(k_running, std::memory_order_relaxed); }

    /// The end of a child that a join_all ran in place: done, as finish()
    /// leaves the word, for the join_all's reads on the same record
    /// (relaxed: nobody else reads it; the record's run orders the rest).
    void mark_done_in_place() noexcept { m_word.store(k_done, std::memory_order_relaxed); }

    /// Shutdown, world stopped: a frame still owned by a handle (or an
    /// awaiter holding one) is marked done, so that the owner's destructor
    /// frees it. False when the handle was dropped: the caller frees it.
    bool mark_done_at_shutdown() noexcept {
        if (m_word.load(std::memory_order_relaxed) == k_detached) return false;
        m_word.store(k_done, std::memory_order_relaxed);
        return true;
    }

    /// A group member's group (its counted reference). relaxed: set before
    /// the goroutine starts, published by its queue push or the group's lock.
    void set_group(group_state* st) noexcept { m_word.store(st, std::memory_order_relaxed); }
    group_state* group() const noexcept { return static_cast<group_state*>(m_word.load(std::memory_order_relaxed)); }

private:
    static inline void* const k_running = nullptr;
    static inline void* const k_done = reinterpret_cast<void*>(std::uintptr_t{1});
    static inline void* const k_detached = reinterpret_cast<void*>(std::uintptr_t{2});
    // A batch's pointer (8-byte aligned, as a goroutine's) with this bit:
    // no other state has it.
    static constexpr std::uintptr_t k_batch_tag = 4;

    std::atomic<void*> m_word{k_running};
};

}  // namespace goro::detail
