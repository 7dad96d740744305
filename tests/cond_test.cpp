// goro::cond (docs/go-behaviours.md, section I).
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

TEST_CASE("item 35: signal wakes exactly one waiter; no spurious wake-ups", "[sync]") {
    for_procs([](unsigned procs) {
        auto main_task = []() -> goro::task<int> {
            goro::mutex m;
            goro::cond c;
            goro::chan<int> running(2), awake(2);
            int waiting = 0;
            for (int i = 0; i < 2; ++i)
                goro::go([](goro::mutex& mu, goro::cond& cv, goro::chan<int> run, goro::chan<int> aw,
                            int& wt) -> goro::task<> {
                    co_await mu.lock();
                    ++wt;
                    co_await run.send(1);
                    co_await cv.wait(mu);
                    co_await aw.send(1);
                    mu.unlock();
                }(m, c, running, awake, waiting));
            co_await running.recv();
            co_await running.recv();
            // Both are parked in wait() once they released the mutex.
            co_await m.lock();
            if (waiting != 2) co_return 1;
            m.unlock();
            co_await goro::sleep(2ms);
            if (awake.try_recv()) co_return 2;  // spurious wake-up
            for (int i = 0; i < 2; ++i) {
                co_await m.lock();
                c.signal();
                m.unlock();
                co_await awake.recv();
                co_await goro::sleep(2ms);
                if (awake.try_recv()) co_return 3;  // signal woke more than one
            }
            c.signal();  // no waiters: no-op
            co_return 0;
        };
        REQUIRE(goro::run(main_task(), {.procs = procs}) == 0);
    });
}

TEST_CASE("item 36: signal wakes waiters in FIFO order", "[sync]") {
    for_procs([](unsigned procs) {
        goro_test::watchdog dog("item 36", 30s);
        auto main_task = []() -> goro::task<int> {
            goro::mutex m;
            goro::cond c;
            goro::chan<int> woke(1);
            int waiting = 0;
            for (int i = 0; i < 100; ++i) {
                goro::go([](goro::mutex& mu, goro::cond& cv, goro::chan<int> w, int& wt, int id) -> goro::task<> {
                    co_await mu.lock();
                    ++wt;
                    co_await cv.wait(mu);
                    mu.unlock();
                    co_await w.send(id);
                }(m, c, woke, waiting, i));
                // Confirm waiter i is parked before adding the next one.
                for (;;) {
                    co_await m.lock();
                    const bool in = waiting == i + 1;
                    m.unlock();
                    if (in) break;
                    co_await goro::yield();
                }
                if (i > 0) {
                    co_await m.lock();
                    c.signal();
                    m.unlock();
                    auto got = co_await woke.recv();
                    if (!got || *got != i - 1) co_return 1000 + i;
                }
            }
            c.signal();
            auto last = co_await woke.recv();
            co_return last && *last == 99 ? 0 : 1;
        };
        REQUIRE(goro::run(main_task(), {.procs = procs}) == 0);
    });
}

TEST_CASE("item 37: broadcast wakes every waiter exactly once", "[sync][stress]") {
    for_procs([](unsigned procs) {
        goro_test::watchdog dog("item 37", 60s);
        auto main_task = []() -> goro::task<int> {
            const int n = 200 / (k_div == 1 ? 1 : 4), rounds = 200 / k_div;
            goro::mutex m;
            goro::cond c;
            goro::chan<int> exit_ch(n);
            int waiting = 0;
            int round = 0;
            std::vector<int> seen(n, -1);
            for (int i = 0; i < n; ++i)
                goro::go([](goro::mutex& mu, goro::cond& cv, int& wt, int& rd, std::vector<int>& sn, int id,
                            int rounds_, goro::chan<int> ex) -> goro::task<> {
                    co_await mu.lock();
                    for (int r = 0; r < rounds_; ++r) {
                        ++wt;
                        const int my_round = rd;
                        while (rd == my_round) co_await cv.wait(mu);  // Go's loop around Wait
                        if (sn[id] == rd) {
                            mu.unlock();
                            co_await ex.send(-1);  // woken twice in one round
                            co_return;
                        }
                        sn[id] = rd;
                    }
                    mu.unlock();
                    co_await ex.send(id);
                }(m, c, waiting, round, seen, i, rounds, exit_ch));
            for (int r = 0; r < rounds; ++r) {
                for (;;) {  // all n waiting in this round
                    co_await m.lock();
                    const bool all = waiting == n;
                    if (all) {
                        waiting = 0;
                        ++round;
                        c.broadcast();
                    }
                    m.unlock();
                    if (all) break;
                    co_await goro::yield();
                }
            }
            for (int i = 0; i < n; ++i) {
                auto v = co_await exit_ch.recv();
                if (!v || *v < 0) co_return 1;
            }
            co_return 0;
        };
        REQUIRE(goro::run(main_task(), {.procs = procs}) == 0);
    });
}
