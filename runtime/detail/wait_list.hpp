// wait_list — the FIFO of parked goroutines (an intrusive_fifo) shared by the sync
// primitives (mutex, rw_mutex, wait_group, cond, semaphore). Internal.
//
// A sync_waiter lives in the frame of the parked task (no allocation per
// blocking operation). Every field except `g` is guarded by the lock of the
// primitive whose list holds the waiter (a detail::chan_lock); `g` is written
// by the owner before the waiter is published (linked under that lock).
//
// ---- Destroying a primitive that tasks are parked on ----
//
// The waiters of these primitives are records in the parked frames, linked
// into a list inside the primitive: nothing keeps the primitive alive for them
// (channels and groups differ: their parked operations hold a reference to the
// shared state, so dropping the last handle is always safe). So the
// destructor of every such primitive calls destroy_wait_lists(), which looks
// at its lists under its lock:
//   - empty (the normal case): nothing to do;
//   - not empty while the runtime tears down (tearing_down(): run() is
//     destroying the goroutines still suspended, in an order of its own, so a
//     frame that owns a mutex can die before a frame parked on it): the
//     waiters are orphaned: unlinked, and never touched again by anybody
//     (their tasks will not run again);
//   - not empty at any other time: "fatal error: sync: goro::mutex destroyed
//     while 2 tasks wait on it", exit status 2. The waiters would otherwise
//     touch freed memory when they are woken, cancelled or destroyed (a Go
//     program cannot do this: the GC keeps the mutex alive).
// The other side is the park op's destructor and its context callback, the
// only code that can run for a parked waiter at teardown: both must not touch
// a primitive that may be gone. Orphaning is just unlinking: at teardown a
// waiter that is not linked any more (queued == false) is never touched by
// its primitive again, and its park op then leaves the primitive alone
// (parked_op_must_leave, asked before naming anything of the primitive, even
// its lock's address). `queued` is the mark rather than a separate flag
// because it also covers a waiter that a waker popped and readied just
// before the run ended (its task never ran): the primitive may be gone then
// too. A context callback does nothing at all at teardown (the task will not
// run again). Not covered: a context cancelled at that very moment by a
// thread outside the runtime (its callback would take the lock of a
// primitive that may be gone).
#pragma once

#include <coroutine>
#include <cstdint>
#include <initializer_list>

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

/// The slow half of destroy_wait_lists (sync.cpp): called with `lock` held and
/// some list not empty; orphans the waiters at teardown (then unlocks), else
/// is fatal, naming `what` and the number of waiters.
void destroyed_with_waiters(chan_lock& lock, std::initializer_list<wait_list*> lists, const char* what) noexcept;

/// The destructor step of a primitive whose waiters live in `lists` (guarded
/// by `lock`); `what` names it in the fatal error ("goro::mutex"). See the
/// top of this file.
inline void destroy_wait_lists(chan_lock& lock, std::initializer_list<wait_list*> lists, const char* what) noexcept {
    lock.lock();
    for (wait_list* l : lists) {
        if (!l->empty()) {
            destroyed_with_waiters(lock, lists, what);  // unlocks (or never returns)
            return;
        }
    }
    lock.unlock();
}

/// For the destructor of a park op destroyed while parked: whether it must
/// take its primitive's lock to leave the list. Parked frames are destroyed
/// only at teardown, where a waiter that is no longer linked must not touch
/// its primitive (it may be gone: see the top of this file). `queued` is read
/// without the lock there: only the teardown thread runs (every worker has
/// stopped), and a context callback that could unlink the waiter was
/// unregistered before this is asked (ctx_unregister waits for one in
/// flight). Outside teardown (not expected) the op always takes the lock and
/// checks `queued` under it.
inline bool parked_op_must_leave(const sync_waiter& w) noexcept { return w.queued || !tearing_down(); }

/// The common park-op destructor step, once parked_op_must_leave said yes
/// (only then is the primitive known to be alive, and only then may `lock`
/// and `list` be named): leaves `list` if the waiter is still linked there.
inline void leave_list(chan_lock& lock, wait_list& list, sync_waiter& w) noexcept {
    lock.lock();
    if (w.queued) list.unlink(&w);
    lock.unlock();
}

}  // namespace goro::detail
