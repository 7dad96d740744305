// wait_list — the intrusive FIFO of parked goroutines shared by the sync
// primitives (mutex, rw_mutex, wait_group, cond, semaphore). Internal.
//
// A sync_waiter lives in the frame of the parked task (no allocation per
// blocking operation). Every field except `g` is guarded by the lock of the
// primitive whose list holds the waiter (a detail::chan_lock); `g` is written
// by the owner before the waiter is published (linked under that lock).
#pragma once

#include <coroutine>
#include <cstdint>

#include "chan_core.hpp"
#include "goroutine.hpp"
#include "../error.hpp"

namespace goro::detail {

struct sync_waiter {
    sync_waiter* next = nullptr;
    sync_waiter* prev = nullptr;
    goroutine* g = nullptr;
    std::int64_t amount = 0;      // semaphore: units wanted
    std::int64_t since_ns = 0;    // mutex: when this waiter first queued (starvation)
    bool queued = false;          // linked into a wait_list (guarded by the owner's lock)
    bool granted = false;         // set by the waker before ready(): ownership handed over
};

struct wait_list {
    sync_waiter* head = nullptr;
    sync_waiter* tail = nullptr;

    bool empty() const noexcept { return head == nullptr; }

    void push_back(sync_waiter* w) noexcept {
        w->next = nullptr;
        w->prev = tail;
        if (tail)
            tail->next = w;
        else
            head = w;
        tail = w;
        w->queued = true;
    }
    void push_front(sync_waiter* w) noexcept {
        w->prev = nullptr;
        w->next = head;
        if (head)
            head->prev = w;
        else
            tail = w;
        head = w;
        w->queued = true;
    }
    void unlink(sync_waiter* w) noexcept {
        if (w->prev)
            w->prev->next = w->next;
        else
            head = w->next;
        if (w->next)
            w->next->prev = w->prev;
        else
            tail = w->prev;
        w->next = w->prev = nullptr;
        w->queued = false;
    }
    sync_waiter* pop_front() noexcept {
        sync_waiter* w = head;
        if (w) unlink(w);
        return w;
    }
};

/// Step 1 of the parking protocol: the current goroutine, with its resume
/// point and wait reason set. Throws no_runtime outside a runtime.
inline goroutine* prepare_park(std::coroutine_handle<> h, const char* reason, const char* api) {
    goroutine* self = current_goroutine();
    if (!self) throw no_runtime(api);
    self->resume_point = h;  // before publishing self
    self->wait_reason.store(reason, std::memory_order_relaxed);
    return self;
}

/// Wakes a list of waiters collected under a lock (chained through `next`
/// after they were unlinked). Reads `next`/`g` before ready(): after ready()
/// the waiter's frame may already be running on another thread.
inline void ready_chain(sync_waiter* list) noexcept {
    while (list) {
        sync_waiter* next = list->next;
        goroutine* g = list->g;
        ready_local(g);
        list = next;
    }
}

/// Prints "fatal error: <msg>" and exits with status 2, as Go's throw() does for
/// unrecoverable sync misuse (an unlock of an unlocked mutex). In sync.cpp.
[[noreturn]] void sync_fatal(const char* msg) noexcept;

}  // namespace goro::detail
