// spin_mutex (runtime/detail/spin_mutex.hpp), the scheduler's global-queue
// lock: mutual exclusion under contention, both when waiters win by spinning
// and when they must sleep in the kernel (a holder that keeps the lock for
// longer than the spin phase), and no lost wake-up between the two.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include <goro/runtime/detail/spin_mutex.hpp>

#include "support/watchdog.hpp"

TEST_CASE("spin_mutex: short critical sections from many threads lose no update", "[sched][spin_mutex][stress]") {
    goro_test::watchdog dog("spin_mutex short", std::chrono::seconds(300));
    goro::detail::spin_mutex lock;
    long counter = 0;  // plain: only the lock orders it (TSan checks that)
    int inside = 0;
    bool overlapped = false;
    const int per_thread = 400'000 / goro_test::stress_divisor;
    constexpr int k_threads = 4;
    std::vector<std::thread> threads;
    for (int t = 0; t < k_threads; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < per_thread; ++i) {
                std::lock_guard guard(lock);
                if (++inside != 1) overlapped = true;
                ++counter;
                --inside;
            }
        });
    for (auto& t : threads) t.join();
    REQUIRE_FALSE(overlapped);
    REQUIRE(counter == static_cast<long>(k_threads) * per_thread);
}

// A holder that sleeps inside the lock outlasts the spin phase, so waiters
// take the futex path; if an unlock ever missed a sleeper, that waiter would
// never wake and the watchdog would end the test.
TEST_CASE("spin_mutex: waiters that sleep in the kernel are all woken", "[sched][spin_mutex][stress]") {
    goro_test::watchdog dog("spin_mutex sleepers", std::chrono::seconds(300));
    goro::detail::spin_mutex lock;
    long counter = 0;
    const int rounds = 300 / goro_test::stress_divisor + 20;
    constexpr int k_threads = 4;
    std::vector<std::thread> threads;
    for (int t = 0; t < k_threads; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < rounds; ++i) {
                std::lock_guard guard(lock);
                ++counter;
                if ((i + t) % 3 == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
            }
        });
    for (auto& t : threads) t.join();
    REQUIRE(counter == static_cast<long>(k_threads) * rounds);
    REQUIRE(lock.try_lock());  // left unlocked
    lock.unlock();
}
