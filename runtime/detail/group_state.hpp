// group_state — what a goro::group shares with the tasks started in it.
//
// A task started by group::go is a goroutine of kind group_member: its own
// root frame, with no wrapper around it (one frame per task, as goro::go;
// group::go(f) starts its owned_call wrapper this way, see owned_call.hpp).
// Its goroutine record's join_state (join_word.hpp: set_group), unused by
// that kind otherwise, holds a counted reference to the group's state. When
// the task finishes, its final awaiter (task.hpp) records its exception as the group's first error if it
// is the first, counts it off `pending` and `active`, starts the next queued
// task if a limit held it back, and wakes the waiters once none is left;
// then it frees its frame, whose promise destructor drops the reference. A
// task destroyed unfinished at runtime shutdown never reaches its final
// awaiter: only the destructor runs, which drops the reference and wakes
// nobody.
//
// With a limit (group::set_limit, Go's errgroup.SetLimit), a task beyond it
// waits in `queued`, not yet a goroutine: its frame belongs to the state (it
// holds no reference and its kind is still `nested`, so destroying it drops
// nothing) until a finishing task starts it; a state freed with tasks still
// queued destroys their frames unrun.
//
// References: the group object holds one, every started and not yet
// destroyed task one, every wait() awaiter one. The state is freed with the
// last, so the group may go away while its tasks run, or its tasks while a
// waiter (being destroyed at shutdown) still holds the state.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <vector>

#include "goroutine.hpp"

namespace goro::detail {

struct group_state {
    std::atomic<std::size_t> refs{1};        // see retain / release
    mutable std::mutex lock;
    std::size_t pending = 0;                 // started or queued, not finished; guarded by lock
    std::size_t active = 0;                  // started, not finished; guarded by lock
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

/// Takes the next queued task if the limit lets one more run (lock held).
inline goroutine* take_queued_locked(group_state* st) noexcept {
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

/// A member finished, or failed to start (with `error`, or null): records the
/// group's first error, counts it off, and starts the queued tasks that the
/// limit now lets run (one that cannot start counts as failed with its
/// exception, and the next one is tried). Call it while the caller still
/// holds a reference to `st`.
inline member_outcome member_finished(group_state* st, std::exception_ptr error) noexcept {
    member_outcome out;
    goroutine* next = nullptr;
    {
        std::lock_guard guard(st->lock);
        if (error && !st->first_error) {
            st->first_error = std::move(error);
            out.cancel = static_cast<bool>(st->cancel);
        }
        --st->pending;
        --st->active;
        next = take_queued_locked(st);
        if (st->pending == 0) out.to_wake.swap(st->waiters);
    }
    while (next) {
        // Now a goroutine of the group: it holds its reference from here.
        retain(st);
        next->kind = goroutine_kind::group_member;
        try {
            start_goroutine(next, "goro::group::go");
            return out;
        } catch (...) {
            std::exception_ptr failed = std::current_exception();
            next->frame_link.destroy();  // drops its reference (its kind is group_member)
            std::lock_guard guard(st->lock);
            if (!st->first_error) {
                st->first_error = std::move(failed);
                out.cancel = static_cast<bool>(st->cancel);
            }
            --st->pending;
            --st->active;
            next = take_queued_locked(st);
            if (st->pending == 0) {
                std::vector<goroutine*> more;
                more.swap(st->waiters);
                out.to_wake.insert(out.to_wake.end(), more.begin(), more.end());
            }
        }
    }
    return out;
}

/// A waiter destroyed while parked (runtime shutdown) takes itself off the
/// list, so that nothing is left pointing into its freed frame.
inline void forget_waiter(group_state* st, goroutine* g) noexcept {
    std::lock_guard guard(st->lock);
    std::erase(st->waiters, g);
}

}  // namespace goro::detail
