// chan_lock (runtime/detail/chan_core.hpp, slow path in runtime/channel.cpp),
// the lock of channels, select, wait groups and the sync primitives: mutual
// exclusion when waiters back off with a carried-over patience, and when a
// holder outlasts the spin budget so that waiters yield their threads.
#include <catch2/catch.hpp>

#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include <goro/runtime/detail/chan_core.hpp>

#include "support/watchdog.hpp"

namespace {

// Runs `threads` threads that each take the lock `per_thread` times, doing
// `body(thread, i)` inside, and checks that no two were ever inside at once.
template <class Body>
void hammer(goro::detail::chan_lock& lock, int threads, int per_thread, Body body) {
    int inside = 0;  // plain: only the lock orders it (TSan checks that)
    bool overlapped = false;
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
        pool.emplace_back([&, t] {
            for (int i = 0; i < per_thread; ++i) {
                std::lock_guard guard(lock);
                if (++inside != 1) overlapped = true;
                body(t, i);
                --inside;
            }
        });
    for (auto& th : pool) th.join();
    REQUIRE_FALSE(overlapped);
}

}  // namespace

TEST_CASE("chan_lock: short critical sections from many threads lose no update", "[chan][chan_lock][stress]") {
    goro_test::watchdog dog("chan_lock short", std::chrono::seconds(300));
    goro::detail::chan_lock lock;
    long counter = 0;
    const int per_thread = 400'000 / goro_test::stress_divisor;
    hammer(lock, 4, per_thread, [&](int, int) { ++counter; });
    REQUIRE(counter == 4L * per_thread);
    REQUIRE(lock.try_lock());  // left unlocked
    lock.unlock();
}

// Bursts of contention separated by quiet stretches: each thread's patience
// grows in a burst and is carried into the next one, and it must never let
// two threads in or leave one waiting for a lock that is free.
TEST_CASE("chan_lock: contention in bursts with carried-over patience", "[chan][chan_lock][stress]") {
    goro_test::watchdog dog("chan_lock bursts", std::chrono::seconds(300));
    goro::detail::chan_lock lock;
    long counter = 0;
    const int per_thread = 100'000 / goro_test::stress_divisor;
    hammer(lock, 3, per_thread, [&](int t, int i) {
        ++counter;
        if ((i + t) % 5000 == 0) std::this_thread::sleep_for(std::chrono::microseconds(50));
    });
    REQUIRE(counter == 3L * per_thread);
}

// A holder that keeps the lock for far longer than the spin budget makes the
// waiters yield their threads; they must all still get in.
TEST_CASE("chan_lock: waiters outlast a slow holder", "[chan][chan_lock][stress]") {
    goro_test::watchdog dog("chan_lock slow holder", std::chrono::seconds(300));
    goro::detail::chan_lock lock;
    long counter = 0;
    const int rounds = 200 / goro_test::stress_divisor + 20;
    hammer(lock, 4, rounds, [&](int t, int i) {
        ++counter;
        if ((i + t) % 3 == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
    });
    REQUIRE(counter == 4L * rounds);
}
