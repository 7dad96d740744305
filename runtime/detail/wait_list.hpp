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
// shared state). The rule, the same for every primitive, channels included:
// destroying one while tasks are parked on it is safe, and those tasks stay
// parked for good, as on a nil channel (the deadlock detector and the
// goroutine dump see them; run() destroys their frames when it returns). This
// is what a Go program does when main returns with goroutines blocked on a
// mutex local to main: nothing, they just never run again. So the destructor
// of every such primitive calls destroy_wait_lists(), which, under its lock,
// orphans the waiters: unlinks them and forgets their tasks (g = nullptr);
// then, unlocked, it unregisters the context callback of each waiter that
// has one (lock(ctx), acquire(ctx)), so that a later cancel touches neither
// the dead primitive nor the waiter (ctx_unregister waits for a callback in
// flight, which finds the waiter unlinked and does nothing). Nothing else can
// reach an orphan: wakers find it in no list, and only run()'s teardown
// destroys parked frames, where the park op's destructor sees it unlinked
// and leaves the primitive alone (parked_op_must_leave, asked before naming
// anything of the primitive, even its lock's address). `queued` is that mark
// rather than a separate flag because it also covers a waiter that a waker
// popped and readied just before the run ended (its task never ran). The
// empty case, the normal one, costs one uncontended lock round trip in the
// destructor and nothing on the lock and unlock paths.
#pragma once

#include <coroutine>
#include <cstdint>
#include <initializer_list>

#include "chan_core.hpp"
#include "goroutine.hpp"
#include "intrusive_fifo.hpp"
#include "../error.hpp"

namespace goro {
class context;
}  // namespace goro

namespace goro::detail {

struct ctx_callback;

struct sync_waiter {
    sync_waiter* next = nullptr;
    sync_waiter* prev = nullptr;
    goroutine* g = nullptr;
    std::int64_t amount = 0;      // semaphore: units wanted
    std::int64_t since_ns = 0;    // mutex: when this waiter first queued (starvation)
    // lock(ctx) / acquire(ctx): the context and the callback registered on
    // it, unregistered if the primitive is destroyed with this waiter parked.
    // Set before the waiter is first linked; null for plain waits.
    const context* ctx = nullptr;
    ctx_callback* ctx_cb = nullptr;
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
/// some list not empty; orphans the waiters (see the top of this file), whose
/// tasks then show `orphan_reason` as what they wait on; unlocks.
void destroyed_with_waiters(chan_lock& lock, std::initializer_list<wait_list*> lists,
                            const char* orphan_reason) noexcept;

/// The destructor step of a primitive whose waiters live in `lists` (guarded
/// by `lock`); `orphan_reason` (a static string, "goro::mutex destroyed") is
/// what its orphaned waiters then wait on, in dumps. See the top of this file.
inline void destroy_wait_lists(chan_lock& lock, std::initializer_list<wait_list*> lists,
                               const char* orphan_reason) noexcept {
    lock.lock();
    for (wait_list* l : lists) {
        if (!l->empty()) {
            destroyed_with_waiters(lock, lists, orphan_reason);  // unlocks
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
/// stopped, and threads outside the runtime wait: foreign_entry.hpp), and a
/// context callback that could unlink the waiter was unregistered before this
/// is asked (ctx_unregister waits for one in flight). Outside teardown (not
/// expected) the op always takes the lock and checks `queued` under it.
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
