// group_state — what a goro::group shares with the tasks started in it.
//
// A task started by group::go is a goroutine of kind group_member: its own
// root frame, with no wrapper around it (one frame per task, as goro::go;
// group::go(f) starts its owned_call wrapper this way, see owned_call.hpp).
// Its goroutine record's join_state (join_word.hpp: set_group), unused by
// that kind otherwise, holds a counted reference to the group's state. When
// the task finishes, its final awaiter (task.hpp) records its exception as
// the group's first error if it is the first, counts it off, starts the next
// queued task if a limit held it back, and wakes the waiters once none is
// left; then it frees its frame, whose promise destructor drops the
// reference. A task destroyed unfinished at runtime shutdown never reaches
// its final awaiter: only the destructor runs, which drops the reference and
// wakes nobody.
//
// ## Counting without the lock
//
// A group without a limit starts and finishes its tasks with one atomic add
// each on `pending_word`, and takes the lock only for what is rare: an error,
// the last task's wake-up of the waiters, a wait that must park. (With a
// lock on every start and finish, 16 processors finishing the 100,000 tasks
// of benchmarks/sleepers at once queued up on it; a std::mutex put their
// threads to sleep in the kernel, and the tasks on those processors' queues
// waited.) The word holds the pending count (started or queued, not
// finished) and a flag, k_limited, for a group with a limit. With the flag
// set, starts and finishes also count `active` and use the queue, under the
// lock.
//
// The flag of a counted task cannot change before it is counted off:
// set_limit switches to the limited mode only from a count of zero (one CAS,
// so a racing start either counts first and makes it throw, or sees the flag
// and takes the lock), and back only with no active task, under the lock
// that the limited mode's finishes take. So a finishing task reads the mode
// it started in.
//
// No lost wake-up: the task that brings the count to zero takes the lock
// afterwards and wakes the waiters if the count is still zero (a start may
// have come in between; then that task's finish wakes them). A waiter checks
// the count and parks under the lock. If it locks after that finisher, the
// finisher's decrement happens before the waiter's check, which reads zero
// (or a later start); if before, the finisher finds it on the list.
//
// With a limit (group::set_limit, Go's errgroup.SetLimit), a task beyond it
// waits in `queued`, not yet a goroutine: its frame belongs to the state (it
// holds no reference and its kind is still `nested`, so destroying it drops
// nothing) until a finishing task starts it, or set_limit raises or removes
// the limit (a limit of 0 queues every task: none is active, so the limit
// may change); a state freed with tasks still queued destroys their frames
// unrun.
//
// References: the group object holds one, every started and not yet
// destroyed task one, every wait() awaiter one. The state is freed with the
// last, so the group may go away while its tasks run, or its tasks while a
// waiter (being destroyed at shutdown) still holds the state.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <vector>

#include "chan_core.hpp"
#include "goroutine.hpp"

namespace goro::detail {

struct group_state {
    /// pending_word's flag: the group has a limit (see "Counting without the lock").
    static constexpr std::uint64_t k_limited = std::uint64_t{1} << 63;
    static constexpr std::uint64_t k_count_mask = k_limited - 1;

    std::atomic<std::size_t> refs{1};        // see retain / release
    // The pending count (started or queued, not finished) and k_limited.
    // Written by atomic adds outside the lock, and under it in the limited mode.
    std::atomic<std::uint64_t> pending_word{0};
    // Short critical sections, taken by tasks on every processor at once
    // (errors, the last finish, parking waiters, the limited mode): the
    // channels' spinning lock, which keeps worker threads out of the kernel.
    // (Not spin_mutex: its inline lock() differs between checked and release
    // builds, and this header is compiled into the user's program too.)
    mutable chan_lock lock;
    std::size_t active = 0;                  // limited mode: started, not finished; guarded by lock
    std::ptrdiff_t limit = -1;               // most active at once, -1: no limit; guarded by lock
    goroutine* queued_head = nullptr;        // beyond the limit, FIFO through queue_next; guarded by lock
    goroutine* queued_tail = nullptr;
    std::exception_ptr first_error;          // guarded by lock
    std::vector<goroutine*> waiters;         // parked in wait(); guarded by lock
    // Cancels the group's context (group(parent)): set before any task
    // starts, then only called (a context's cancel is thread-safe and runs
    // once); empty for a group without a context.
    std::function<void()> cancel;

    group_state() = default;
    group_state(const group_state&) = delete;
    group_state& operator=(const group_state&) = delete;
    ~group_state() {
        // Tasks a limit held back and nobody started: never run, destroyed
        // here (their frames hold no reference to us).
        while (goroutine* g = queued_head) {
            queued_head = g->queue_next;
            g->queue_next = nullptr;
            g->frame_link.destroy();
        }
    }

    /// Tasks started or queued and not finished. acquire: a reader that sees
    /// a task counted off sees what the task did, its error included.
    std::size_t pending() const noexcept {
        return static_cast<std::size_t>(pending_word.load(std::memory_order_acquire) & k_count_mask);
    }
};

inline void retain(group_state* st) noexcept {
    // relaxed: the caller holds a reference already, so the state cannot be
    // freed meanwhile, and the count publishes nothing else.
    st->refs.fetch_add(1, std::memory_order_relaxed);
}

inline void release(group_state* st) noexcept {
    // acq_rel: release orders this holder's uses of the state before the
    // decrement; acquire makes the last holder, which frees it, see every
    // other holder's uses first.
    if (st->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete st;
}

/// release, kept a call: a group member's promise destructor (task.hpp)
/// runs in every task's end, and with the release and the state's
/// destructor inline clang left that destructor a call of its own (seven
/// instructions a fork-join child; see benchmarks/RESULTS.md,
/// 2026-12-01 04:00).
[[gnu::noinline, gnu::cold]] inline void release_member_reference(group_state* st) noexcept { release(st); }

/// Counts one task in; true if the group has no limit, so that the task may
/// start at once. Otherwise the caller takes the lock and decides (the task
/// is counted already). relaxed: the start publishes the task, and the
/// task's count_off happens after it, so the count cannot go below zero.
inline bool count_in_unlimited(group_state* st) noexcept {
    return (st->pending_word.fetch_add(1, std::memory_order_relaxed) & group_state::k_limited) == 0;
}

/// Counts one task off; true if it was the last pending one. acq_rel:
/// release publishes the task's work (its error included) to whoever sees
/// the count drop; acquire lets the last one see every other task's.
inline bool count_off(group_state* st) noexcept {
    return (st->pending_word.fetch_sub(1, std::memory_order_acq_rel) & group_state::k_count_mask) == 1;
}

/// The waiters to wake after a task brought the count to zero (lock held),
/// unless a task started meanwhile (its finish wakes them then).
inline void take_waiters_if_idle_locked(group_state* st, std::vector<goroutine*>& to_wake) {
    GORO_ASSERT(st->lock.is_locked());
    if (st->pending() != 0 || st->waiters.empty()) return;
    if (to_wake.empty())
        to_wake.swap(st->waiters);
    else
        to_wake.insert(to_wake.end(), st->waiters.begin(), st->waiters.end());
    st->waiters.clear();
}

/// Takes the next queued task if the limit lets one more run (lock held).
inline goroutine* take_queued_locked(group_state* st) noexcept {
    GORO_ASSERT(st->lock.is_locked());
    goroutine* g = st->queued_head;
    if (!g || (st->limit >= 0 && static_cast<std::ptrdiff_t>(st->active) >= st->limit)) return nullptr;
    st->queued_head = g->queue_next;
    if (!st->queued_head) st->queued_tail = nullptr;
    g->queue_next = nullptr;
    ++st->active;
    return g;
}

/// What a finishing member must do once it no longer needs the group lock.
struct member_outcome {
    std::vector<goroutine*> to_wake;  // waiters to ready() (the last task finished)
    bool cancel = false;              // the first error: cancel the group's context
};

/// Records `error` as the group's first error if it is the first (lock held).
inline void record_error_locked(group_state* st, std::exception_ptr error, member_outcome& out) noexcept {
    GORO_ASSERT(st->lock.is_locked());
    if (error && !st->first_error) {
        st->first_error = std::move(error);
        out.cancel = static_cast<bool>(st->cancel);
    }
}

/// Starts `g`, a queued task taken off the queue (counted in, and active
/// in the limited mode), as a goroutine of the group. False when its start
/// failed (outside a runtime): it is destroyed, `failed` holds the
/// exception, and the caller counts it off as a task that failed.
inline bool start_queued(group_state* st, goroutine* g, std::exception_ptr& failed) noexcept {
    // Now a goroutine of the group: it holds its reference from here.
    retain(st);
    g->kind = goroutine_kind::group_member;
    try {
        start_goroutine(g, "goro::group::go");
        return true;
    } catch (...) {
        failed = std::current_exception();
        g->frame_link.destroy();  // drops its reference (its kind is group_member)
        return false;
    }
}

/// A member finished, or failed to start (with `error`, or null): records the
/// group's first error, counts it off, and starts the queued tasks that the
/// limit now lets run (one that cannot start counts as failed with its
/// exception, and the next one is tried). Call it while the caller still
/// holds a reference to `st`.
inline member_outcome member_finished(group_state* st, std::exception_ptr error) noexcept {
    member_outcome out;
    // relaxed: the mode cannot change while this task is counted (see the
    // header), and this thread saw it when the task was counted in.
    if ((st->pending_word.load(std::memory_order_relaxed) & group_state::k_limited) == 0) [[likely]] {
        if (error) [[unlikely]] {
            // Recorded before the count drops, so a waiter that sees the
            // count at zero finds the error.
            std::lock_guard guard(st->lock);
            record_error_locked(st, std::move(error), out);
        }
        if (count_off(st)) {
            std::lock_guard guard(st->lock);
            take_waiters_if_idle_locked(st, out.to_wake);
        }
        return out;
    }
    // The limited mode: the finish frees a place, which the next queued
    // task takes; one whose start fails frees it again, as a task that
    // failed with that exception.
    for (;;) {
        goroutine* next = nullptr;
        {
            std::lock_guard guard(st->lock);
            record_error_locked(st, std::move(error), out);
            --st->active;
            (void)count_off(st);
            next = take_queued_locked(st);
            take_waiters_if_idle_locked(st, out.to_wake);
        }
        if (!next || start_queued(st, next, error)) return out;
    }
}

/// set_limit's release, with the new limit set (lock held): the queued
/// tasks that it lets run, taken off the queue as a list through
/// queue_next, in their order: all of them without a limit, as many as fit
/// with one (counted active, as take_queued_locked counts them).
inline goroutine* take_released_locked(group_state* st) noexcept {
    GORO_ASSERT(st->lock.is_locked());
    if (st->limit < 0) {
        goroutine* all = st->queued_head;
        st->queued_head = nullptr;
        st->queued_tail = nullptr;
        return all;
    }
    goroutine* head = nullptr;
    goroutine** tail = &head;
    while (goroutine* g = take_queued_locked(st)) {
        *tail = g;
        tail = &g->queue_next;
    }
    return head;
}

/// Starts the tasks of take_released_locked's list, the lock not held. One
/// that cannot start (outside a runtime) ends as a task that failed with
/// that exception (member_finished, which in the limited mode starts the
/// next queued task in its place). The caller holds a reference to `st`.
inline void start_released(group_state* st, goroutine* list) noexcept {
    while (goroutine* g = list) {
        list = g->queue_next;
        g->queue_next = nullptr;
        std::exception_ptr failed;
        if (start_queued(st, g, failed)) continue;
        member_outcome out = member_finished(st, std::move(failed));
        if (out.cancel) st->cancel();
        for (goroutine* w : out.to_wake) ready(w);
    }
}

/// A waiter destroyed while parked (runtime shutdown) takes itself off the
/// list, so that nothing is left pointing into its freed frame.
inline void forget_waiter(group_state* st, goroutine* g) noexcept {
    std::lock_guard guard(st->lock);
    std::erase(st->waiters, g);
}

}  // namespace goro::detail
