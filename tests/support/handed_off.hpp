// spin_until_handed_off: called from a task, spins without suspending until
// a task queued behind it on its processor has run. With one processor only
// a hand-off (runtime/handoff.cpp) lets that task run, so on return the
// calling task runs on a thread that no longer holds a processor.
#pragma once

#include <atomic>

#include <goro/goro.hpp>

namespace goro_test {

inline goro::task<> set_when_run(std::atomic<bool>* flag) {
    flag->store(true, std::memory_order_release);
    co_return;
}

inline void spin_until_handed_off() {
    std::atomic<bool> ran{false};
    goro::go(set_when_run(&ran));  // queued on this processor, behind the caller
    // The queued task touches `ran` only before the loop below ends. No
    // sched_yield: a thread that yields on a loaded machine gets too little
    // CPU for the monitor to call it stuck (sysmon.cpp, thread_stuck).
    while (!ran.load(std::memory_order_acquire)) {
    }
}

}  // namespace goro_test
