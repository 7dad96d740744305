// goro::sleep / sleep_until: ordering, many sleepers, no thread per sleeper.
#include <catch2/catch.hpp>


#include <atomic>
#include <vector>

#include <goro/goro.hpp>

#include "support/watchdog.hpp"
#include "support/threads.hpp"

using namespace std::chrono_literals;

TEST_CASE("sleep lasts at least its duration", "[timer]") {
    auto main_task = []() -> goro::task<double> {
        const auto start = std::chrono::steady_clock::now();
        co_await goro::sleep(20ms);
        co_return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    };
    for (unsigned procs : {1u, 2u}) REQUIRE(goro::run(main_task(), {.procs = procs}) >= 20.0);
}

TEST_CASE("sleep_until and zero or negative durations", "[timer]") {
    auto main_task = []() -> goro::task<int> {
        co_await goro::sleep(0ms);
        co_await goro::sleep(-5ms);
        const auto deadline = std::chrono::steady_clock::now() + 5ms;
        co_await goro::sleep_until(deadline);
        REQUIRE(std::chrono::steady_clock::now() >= deadline);
        co_await goro::sleep_until(std::chrono::steady_clock::now() - 1s);  // in the past
        co_await goro::sleep(std::chrono::hours::max() / 1000000000);       // huge: must not overflow
        co_return 0;
    };
    // The last sleep is about 2.5 h: main never gets there... so only run the first part.
    auto short_task = []() -> goro::task<int> {
        co_await goro::sleep(0ms);
        co_await goro::sleep(-5ms);
        const auto deadline = std::chrono::steady_clock::now() + 5ms;
        co_await goro::sleep_until(deadline);
        REQUIRE(std::chrono::steady_clock::now() >= deadline);
        co_await goro::sleep_until(std::chrono::steady_clock::now() - 1s);
        co_return 1;
    };
    (void)main_task;
    REQUIRE(goro::run(short_task(), {.procs = 1}) == 1);
}

TEST_CASE("sleepers wake in deadline order on one processor", "[timer]") {
    std::vector<int> order;
    auto sleeper = [&](int ms) -> goro::task<> {
        co_await goro::sleep(std::chrono::milliseconds(ms));
        order.push_back(ms);
    };
    auto main_task = [&]() -> goro::task<int> {
        goro::group g;
        for (int ms : {40, 10, 30, 20, 50}) g.go(sleeper(ms));
        co_await g.wait();
        co_return 0;
    };
    goro::run(main_task(), {.procs = 1});
    REQUIRE(order == std::vector<int>{10, 20, 30, 40, 50});
}

TEST_CASE("100,000 concurrent sleepers use no thread each and all wake", "[timer][stress]") {
    goro_test::watchdog dog("100k sleepers", 120s);
    const int n = 100'000 / goro_test::stress_divisor;
    std::atomic<int> woke{0};
    int max_threads = 0;
    auto sleeper = [&](int i) -> goro::task<> {
        co_await goro::sleep(std::chrono::milliseconds(20 + i % 30));
        woke.fetch_add(1, std::memory_order_relaxed);
    };
    auto main_task = [&]() -> goro::task<double> {
        const auto start = std::chrono::steady_clock::now();
        goro::group g;
        for (int i = 0; i < n; ++i) g.go(sleeper(i));
        max_threads = goro_test::thread_count();
        co_await g.wait();
        co_return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    };
    const double seconds = goro::run(main_task(), {.procs = 2});
    REQUIRE(woke.load() == n);
    REQUIRE(max_threads <= 2 + 4);  // workers (plus the watchdog and Catch's own)
    REQUIRE(seconds < 30.0);        // order of magnitude only: 50 ms of sleeping
}

TEST_CASE("a million tasks suspended at once fit in memory", "[timer][stress]") {
    goro_test::watchdog dog("1M suspended", 300s);
    const int n = 1'000'000 / goro_test::stress_divisor;
    std::atomic<int> woke{0};
    auto sleeper = [&]() -> goro::task<> {
        co_await goro::sleep(200ms);
        woke.fetch_add(1, std::memory_order_relaxed);
    };
    auto main_task = [&]() -> goro::task<int> {
        goro::group g;
        for (int i = 0; i < n; ++i) g.go(sleeper());
        co_await g.wait();
        co_return 0;
    };
    goro::run(main_task(), {.procs = 2});
    REQUIRE(woke.load() == n);
}

