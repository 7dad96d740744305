// group_state — what a goro::group shares with the tasks started in it.
//
// A task started by group::go is a goroutine of kind group_member: its own
// root frame, with no wrapper around it (one frame per task, as goro::go;
// group::go(f) starts its owned_call wrapper this way, see owned_call.hpp).
// Its goroutine record's join_state, unused by that kind otherwise, holds a
// counted reference to the group's state. When the task finishes, its final
// awaiter (task.hpp) records its exception as the group's first error if it
// is the first, counts it off `pending` and wakes the waiters once none is
// left; then it frees its frame, whose promise destructor drops the
// reference. A task destroyed unfinished at runtime shutdown never reaches
// its final awaiter: only the destructor runs, which drops the reference and
// wakes nobody.
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
#include <mutex>
#include <vector>

#include "goroutine.hpp"

namespace goro::detail {

struct group_state {
    std::atomic<std::size_t> refs{1};        // see retain / release
    mutable std::mutex lock;
    std::size_t pending = 0;                 // tasks started and not finished; guarded by lock
    std::exception_ptr first_error;          // guarded by lock
    std::vector<goroutine*> waiters;         // parked in wait(); guarded by lock
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

/// A member task finished (with `error`, or null): records the group's first
/// error and counts the task off. Returns the waiters to ready() once the
/// caller no longer needs anything from the state (none unless it was the
/// last pending task).
inline std::vector<goroutine*> member_finished(group_state* st, std::exception_ptr error) noexcept {
    std::vector<goroutine*> to_wake;
    std::lock_guard guard(st->lock);
    if (error && !st->first_error) st->first_error = std::move(error);
    if (--st->pending == 0) to_wake.swap(st->waiters);
    return to_wake;
}

/// A waiter destroyed while parked (runtime shutdown) takes itself off the
/// list, so that nothing is left pointing into its freed frame.
inline void forget_waiter(group_state* st, goroutine* g) noexcept {
    std::lock_guard guard(st->lock);
    std::erase(st->waiters, g);
}

}  // namespace goro::detail
