// goro::semaphore (docs/go-behaviours.md, section J).
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <goro/goro.hpp>

#include "support/child_process.hpp"
#include "support/sync_helpers.hpp"
#include "support/watchdog.hpp"

using namespace std::chrono_literals;
using goro_test::for_procs;
using goro_test::until;

namespace {
constexpr int k_div = goro_test::stress_divisor;
}  // namespace

TEST_CASE("item 38: weighted semaphore try_acquire truth table", "[sync]") {
    goro::semaphore s(2);
    std::vector<bool> tries;
    auto main_task = [](goro::semaphore& sem, std::vector<bool>& t) -> goro::task<> {
        co_await sem.acquire(1);
        t.push_back(sem.try_acquire(1));
        t.push_back(sem.try_acquire(1));
        sem.release(2);
        t.push_back(sem.try_acquire(1));
        co_await sem.acquire(1);
        t.push_back(sem.try_acquire(1));
    };
    goro::run(main_task(s, tries), {.procs = 1});
    REQUIRE(tries == std::vector<bool>{true, false, true, false});
}

TEST_CASE("item 38: semaphore hammer (procs tasks, weights 1..n)", "[sync][stress]") {
    for_procs([](unsigned procs) {
        goro_test::watchdog dog("semaphore hammer", 60s);
        auto main_task = []() -> goro::task<int> {
            const int n = 8;
            goro::semaphore sem(n);
            std::atomic<long> in_use{0};
            std::atomic<int> bad{0};
            goro::wait_group wg;
            for (int t = 0; t < n; ++t) {
                wg.add(1);
                goro::go([](goro::semaphore& s, std::atomic<long>& use, std::atomic<int>& b, goro::wait_group& w,
                            int weight, int loops) -> goro::task<> {
                    for (int i = 0; i < loops; ++i) {
                        co_await s.acquire(weight);
                        if (use.fetch_add(weight) + weight > 8) b.fetch_add(1);
                        if (i % 3 == 0) co_await goro::yield();
                        use.fetch_sub(weight);
                        s.release(weight);
                    }
                    w.done();
                }(sem, in_use, bad, wg, t + 1, 1000 / k_div));
            }
            co_await wg.wait();
            co_return bad.load() == 0 && sem.try_acquire(n) ? 0 : 1;
        };
        REQUIRE(goro::run(main_task(), {.procs = procs}) == 0);
    });
}

TEST_CASE("item 39: releasing more than held throws 'semaphore: released more than held'", "[sync]") {
    goro::semaphore s(1);
    REQUIRE_THROWS_AS(s.release(1), goro::semaphore_overrelease);
    REQUIRE_THROWS_WITH(s.release(1), "semaphore: released more than held");
    REQUIRE(s.try_acquire(1));  // unchanged by the failed release
}

TEST_CASE("item 40: an acquire larger than the size does not block smaller ones", "[sync]") {
    auto main_task = []() -> goro::task<int> {
        goro::semaphore sem(2);
        goro::go([](goro::semaphore& s) -> goro::task<> { co_await s.acquire(3); }(sem));  // never succeeds
        co_await goro::sleep(1ms);
        goro::wait_group wg;
        for (int i = 0; i < 6; ++i) {
            wg.add(1);
            goro::go([](goro::semaphore& s, goro::wait_group& w) -> goro::task<> {
                co_await s.acquire(1);
                co_await goro::sleep(100us);
                s.release(1);
                w.done();
            }(sem, wg));
        }
        co_await wg.wait();
        co_return 0;
    };
    REQUIRE(goro::run(main_task(), {.procs = 2}) == 0);
}

TEST_CASE("item 41: a large acquire is not starved by small acquire/release pairs (FIFO)", "[sync][stress]") {
    for_procs([](unsigned procs) {
        goro_test::watchdog dog("item 41", 30s);
        auto main_task = []() -> goro::task<int> {
            const int n = 8;
            goro::semaphore sem(n);
            std::atomic<bool> running{true};
            goro::wait_group wg;
            for (int i = 0; i < n; ++i) {
                co_await sem.acquire(1);
                wg.add(1);
                goro::go([](goro::semaphore& s, std::atomic<bool>& run, goro::wait_group& w) -> goro::task<> {
                    while (run.load()) {
                        co_await goro::sleep(1ms);
                        s.release(1);
                        co_await s.acquire(1);
                    }
                    s.release(1);
                    w.done();
                }(sem, running, wg));
            }
            co_await sem.acquire(n);  // must get all n despite the stream of small ones
            running.store(false);
            sem.release(n);
            co_await wg.wait();
            co_return 0;
        };
        REQUIRE(goro::run(main_task(), {.procs = procs}) == 0);
    });
}
