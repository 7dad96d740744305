// wait_list — the FIFO of parked goroutines (an intrusive_fifo) shared by the sync
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
#include "intrusive_fifo.hpp"
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

/// FIFO of parked sync waiters (push_back, push_front, unlink, pop_front).
using wait_list = intrusive_fifo<sync_waiter>;

// prepare_park() and ready_chain() are in chan_core.hpp (channels use them too).

/// Prints "fatal error: <msg>" and exits with status 2, as Go's throw() does for
/// unrecoverable sync misuse (an unlock of an unlocked mutex). In sync.cpp.
[[noreturn]] void sync_fatal(const char* msg) noexcept;

}  // namespace goro::detail
