// foreign_entry — how a thread that is not a logical processor (a plain
// std::thread, a blocking-pool job, a callback from a C library) enters the
// running runtime safely. Internal; the public rule is in the README
// ("Calling goro from other threads").
//
// The hazard: such a thread can wake a parked task (chan::try_send, close,
// mutex::unlock, a context's cancel, ...). It unlinks the waiter under the
// primitive's lock and calls ready() after unlocking. If run() is returning
// at that moment, the shutdown thread may destroy the waiter's frame, and the
// runtime_state, between the unlock and ready(): a use-after-free.
//
// The protocol (a Dekker pair on two seq_cst variables):
//
//   entering thread                      shutdown (run_runtime)
//   ---------------                      ----------------------
//   foreign_inside += 1   (seq_cst)      runtime_state::closed = true (seq_cst)
//   ... unlink a waiter under a lock     wait until foreign_inside == 0
//   if closed (seq_cst): step out,       destroy the suspended goroutines
//     wait until unpublished, retry      unpublish the runtime,
//   ready(g): if closed (seq_cst)        wait until foreign_inside == 0, free it
//             drop the wake-up
//             else queue g globally
//   foreign_inside -= 1   (release)
//
// Either the shutdown thread sees the count (and waits until the thread has
// left), or the thread sees `closed`. A call already inside when shutdown
// closes the runtime finishes, but readies nobody (the tasks it unlinked are
// about to be destroyed anyway, and their destructors find them unlinked). A
// call that arrives once the runtime is closed steps out and waits until
// shutdown has destroyed every suspended task and unpublished the runtime:
// it then runs against no runtime, where nothing is parked any more (so it
// can never read a waiter record of a frame being destroyed); goro::go and
// goro::spawn then throw goro::no_runtime and destroy the task unrun. (The
// wait is bounded by shutdown itself; it would only deadlock if a destructor
// run by shutdown waited for that very thread: do not join such threads from
// a task's destructor.)
//
// An entry is a no-op on a processor thread (those are stopped before
// shutdown begins) and on the shutdown thread itself (destructors of the
// frames it destroys may close channels or start tasks; those tasks are
// destroyed in the same loop). Entries nest: only the outermost counts.
//
// Calls that are never made from outside (the awaiters: co_await only runs
// on a processor) need no entry. The rest of the public surface that may
// wake a task or read the runtime takes one; see the README for the list.
#pragma once

namespace goro::detail {

class foreign_entry {
public:
    foreign_entry() noexcept;  // scheduler.cpp (one call; a no-op on a processor)
    ~foreign_entry() {
        if (m_counted) leave();
    }
    foreign_entry(const foreign_entry&) = delete;
    foreign_entry& operator=(const foreign_entry&) = delete;

private:
    void leave() noexcept;  // scheduler.cpp
    bool m_counted = false;
};

}  // namespace goro::detail
