// Helpers shared by the sync primitives' tests (wait_group_test, mutex_test,
// rw_mutex_test, once_test, cond_test, semaphore_test, sync_test).
#pragma once

#include <catch2/catch.hpp>

#include <goro/goro.hpp>

namespace goro_test {

/// Runs `body(procs)` with 1, 2 and 4 processors.
template <typename F>
void for_procs(F&& body) {
    for (unsigned procs : {1u, 2u, 4u}) {
        INFO("procs = " << procs);
        body(procs);
    }
}

/// Parks the calling task until `cond()` holds, yielding (not sleeping) in between.
template <typename Cond>
goro::task<> until(Cond cond) {
    while (!cond()) co_await goro::yield();
}

}  // namespace goro_test
