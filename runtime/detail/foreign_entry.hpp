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
//   ready(g): if closed (seq_cst)        destroy the suspended goroutines
//             drop the wake-up           unpublish the runtime,
//             else queue g globally      wait until foreign_inside == 0, free it
//   foreign_inside -= 1   (release)
//
// Either the shutdown thread sees the count (and waits until the thread has
// left), or the thread sees `closed` (and touches no goroutine after
// unlocking: the ones it unlinked are about to be destroyed anyway, and their
// destructors find them unlinked). goro::go and goro::spawn from outside see
// `closed` and throw goro::no_runtime; the frame is destroyed, not leaked.
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
    foreign_entry() noexcept;  // scheduler.cpp
    ~foreign_entry();
    foreign_entry(const foreign_entry&) = delete;
    foreign_entry& operator=(const foreign_entry&) = delete;

private:
    bool m_counted = false;
};

}  // namespace goro::detail
