// goro::rw_mutex, with and without a context (docs/go-behaviours.md, section G).
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

TEST_CASE("item 30: readers run in parallel", "[sync]") {
    auto main_task = []() -> goro::task<int> {
        goro::rw_mutex rw;
        const int n = 8;
        goro::chan<int> locked(n), release;
        for (int i = 0; i < n; ++i)
            goro::go([](goro::rw_mutex& m, goro::chan<int> l, goro::chan<int> r) -> goro::task<> {
                co_await m.lock_shared();
                co_await l.send(1);
                co_await r.recv();
                m.unlock_shared();
            }(rw, locked, release));
        for (int i = 0; i < n; ++i) co_await locked.recv();  // deadlocks if readers excluded each other
        release.close();
        co_await rw.lock();
        rw.unlock();
        co_return 0;
    };
    REQUIRE(goro::run(main_task(), {.procs = 2}) == 0);
}

TEST_CASE("item 30: RWMutex hammer: readers see [1,9999], writers exactly 10000", "[sync][stress]") {
    for_procs([](unsigned procs) {
        goro_test::watchdog dog("item 30 hammer", 60s);
        auto main_task = []() -> goro::task<int> {
            goro::rw_mutex rw;
            std::atomic<int> activity{0};
            std::atomic<int> bad{0};
            goro::wait_group wg;
            const int iters = 1000 / k_div;
            for (int t = 0; t < 10; ++t) {
                wg.add(1);
                const bool writer = t % 5 == 0;
                goro::go([](goro::rw_mutex& m, std::atomic<int>& act, std::atomic<int>& b, goro::wait_group& w,
                            bool wr, int n) -> goro::task<> {
                    for (int i = 0; i < n; ++i) {
                        if (wr) {
                            co_await m.lock();
                            int v = act.fetch_add(10000) + 10000;
                            if (v != 10000) b.fetch_add(1);
                            if (i % 4 == 0) co_await goro::yield();
                            act.fetch_sub(10000);
                            m.unlock();
                        } else {
                            co_await m.lock_shared();
                            int v = act.fetch_add(1) + 1;
                            if (v < 1 || v >= 10000) b.fetch_add(1);
                            if (i % 4 == 0) co_await goro::yield();
                            act.fetch_sub(1);
                            m.unlock_shared();
                        }
                    }
                    w.done();
                }(rw, activity, bad, wg, writer, iters));
            }
            co_await wg.wait();
            co_return bad.load();
        };
        REQUIRE(goro::run(main_task(), {.procs = procs}) == 0);
    });
}

TEST_CASE("item 31: try_lock / try_lock_shared truth table", "[sync]") {
    goro::rw_mutex rw;
    REQUIRE(rw.try_lock());
    CHECK_FALSE(rw.try_lock());
    CHECK_FALSE(rw.try_lock_shared());
    rw.unlock();
    REQUIRE(rw.try_lock());
    rw.unlock();
    REQUIRE(rw.try_lock_shared());
    REQUIRE(rw.try_lock_shared());
    CHECK_FALSE(rw.try_lock());
    rw.unlock_shared();
    rw.unlock_shared();
    CHECK(rw.try_lock());
    rw.unlock();
}

TEST_CASE("item 32: writer preference: a waiting writer blocks new readers", "[sync]") {
    for_procs([](unsigned procs) {
        auto main_task = []() -> goro::task<std::string> {
            goro::rw_mutex rw;
            goro::mutex log_mu;
            std::string log;
            co_await rw.lock_shared();  // R1
            auto w = goro::spawn([](goro::rw_mutex& m, goro::mutex& lm, std::string& lg) -> goro::task<> {
                co_await m.lock();
                co_await lm.lock();
                lg += "W,";
                lm.unlock();
                m.unlock();
            }(rw, log_mu, log));
            // Wait until the writer is parked (try_lock_shared fails once a writer waits).
            for (int i = 0; i < 100000; ++i) {
                if (!rw.try_lock_shared()) break;
                rw.unlock_shared();
                co_await goro::sleep(50us);
            }
            auto r2 = goro::spawn([](goro::rw_mutex& m, goro::mutex& lm, std::string& lg) -> goro::task<> {
                co_await m.lock_shared();
                co_await lm.lock();
                lg += "R2,";
                lm.unlock();
                m.unlock_shared();
            }(rw, log_mu, log));
            co_await goro::sleep(5ms);
            co_await log_mu.lock();
            log += "R1-unlock,";
            log_mu.unlock();
            rw.unlock_shared();
            co_await std::move(w);
            co_await std::move(r2);
            co_return log;
        };
        REQUIRE(goro::run(main_task(), {.procs = procs}) == "R1-unlock,W,R2,");
    });
}

TEST_CASE("item 32/38: a cancelled waiting writer lets the readers parked behind it in", "[sync]") {
    for (unsigned procs : {1u, 4u}) {
        INFO("procs = " << procs);
        goro_test::watchdog dog("rw_mutex writer cancel", 30s);
        auto main_task = []() -> goro::task<int> {
            goro::rw_mutex rw;
            co_await rw.lock_shared();  // R1
            auto [ctx, cancel] = goro::with_cancel(goro::background());
            goro::chan<std::error_code> wres(1);
            goro::go([](goro::rw_mutex& m, goro::context c, goro::chan<std::error_code> out) -> goro::task<> {
                const std::error_code e = co_await m.lock(c);
                if (!e) m.unlock();
                co_await out.send(e);
            }(rw, ctx, wres));
            co_await until([&] { return rw.debug_waiters() == 1; });  // W parked
            goro::chan<int> rdone(1);
            goro::go([](goro::rw_mutex& m, goro::chan<int> out) -> goro::task<> {
                co_await m.lock_shared();  // R2: parks behind W (writer preference)
                co_await out.send(1);
                m.unlock_shared();
            }(rw, rdone));
            co_await until([&] { return rw.debug_waiters() == 2; });
            if (rdone.try_recv()) co_return 1;
            cancel();
            const auto e = co_await wres.recv();
            if (!e || *e != goro::context_errc::canceled) co_return 2;
            const auto r2 = co_await rdone.recv();  // admitted while R1 still holds its read lock
            if (!r2) co_return 3;
            rw.unlock_shared();
            co_await until([&] { return rw.try_lock(); });  // R2 unlocks after its send
            rw.unlock();
            co_return rw.debug_waiters() == 0 ? 0 : 4;
        };
        REQUIRE(goro::run(main_task(), {.procs = procs}) == 0);
    }
}

TEST_CASE("item 31/38: rw_mutex lock_shared(ctx) / lock(ctx): cancel, done context, timeout", "[sync]") {
    for (unsigned procs : {1u, 4u}) {
        INFO("procs = " << procs);
        auto main_task = []() -> goro::task<int> {
            goro::rw_mutex rw;
            co_await rw.lock();
            auto [ctx, cancel] = goro::with_cancel(goro::background());
            goro::chan<std::error_code> res(1);
            goro::go([](goro::rw_mutex& m, goro::context c, goro::chan<std::error_code> out) -> goro::task<> {
                const std::error_code e = co_await m.lock_shared(c);
                if (!e) m.unlock_shared();
                co_await out.send(e);
            }(rw, ctx, res));
            co_await until([&] { return rw.debug_waiters() == 1; });
            cancel();
            const auto e = co_await res.recv();
            if (!e || *e != goro::context_errc::canceled) co_return 1;
            if (rw.debug_waiters() != 0) co_return 2;
            // Done context: fails at once, even on a free lock.
            const std::error_code d = co_await rw.lock_shared(ctx);
            if (d != goro::context_errc::canceled) co_return 3;
            // Timeout while the writer (us) holds it.
            auto [tctx, tcancel] = goro::with_timeout(goro::background(), 20ms);
            const std::error_code t = co_await rw.lock(tctx);
            if (t != goro::context_errc::deadline_exceeded) co_return 4;
            rw.unlock();
            // Free: lock(ctx) and lock_shared(ctx) succeed.
            const std::error_code w = co_await rw.lock(goro::background());
            if (w) co_return 5;
            rw.unlock();
            auto [lctx, lcancel] = goro::with_cancel(goro::background());
            const std::error_code s1 = co_await rw.lock_shared(lctx);
            const std::error_code s2 = co_await rw.lock_shared(lctx);
            if (s1 || s2) co_return 6;
            rw.unlock_shared();
            rw.unlock_shared();
            if (!rw.try_lock()) co_return 7;
            rw.unlock();
            co_return 0;
        };
        REQUIRE(goro::run(main_task(), {.procs = procs}) == 0);
    }
}

TEST_CASE("item 30/32/38 [HARD]: rw_mutex stress, random readers and writers cancelled", "[sync][stress]") {
    for (unsigned procs : {1u, 4u}) {
        INFO("procs = " << procs);
        goro_test::watchdog dog("rw_mutex lock(ctx) stress", 120s);
        auto main_task = []() -> goro::task<int> {
            goro::rw_mutex rw;
            goro::wait_group wg;
            std::atomic<int> activity{0}, bad{0};
            const int tasks = 16, per = 1000 / k_div;
            for (int t = 0; t < tasks; ++t) {
                wg.add(1);
                goro::go([](goro::rw_mutex& m, goro::wait_group& w, std::atomic<int>& act, std::atomic<int>& b,
                            int n, unsigned seed) -> goro::task<> {
                    auto next = [&seed] {
                        seed ^= seed << 13;
                        seed ^= seed >> 17;
                        seed ^= seed << 5;
                        return seed;
                    };
                    for (int i = 0; i < n; ++i) {
                        const bool writer = next() % 4 == 0;
                        auto [ctx, cancel] = goro::with_cancel(goro::background());
                        std::optional<goro::timer> killer;  // cancels from another task
                        if (next() % 2)
                            killer.emplace(goro::after_func(std::chrono::microseconds(next() % 200), [c = cancel] { c(); }));
                        std::error_code e;
                        if (writer)
                            e = co_await m.lock(ctx);
                        else
                            e = co_await m.lock_shared(ctx);
                        if (e) continue;
                        if (writer) {
                            if (act.fetch_add(10000) != 0) b.fetch_add(1);
                            if (next() % 4 == 0) co_await goro::yield();  // let waiters queue up
                            if (act.fetch_sub(10000) != 10000) b.fetch_add(1);
                            m.unlock();
                        } else {
                            const int a = act.fetch_add(1) + 1;
                            if (a < 1 || a > 9999) b.fetch_add(1);
                            if (next() % 4 == 0) co_await goro::yield();
                            act.fetch_sub(1);
                            m.unlock_shared();
                        }
                    }
                    w.done();
                }(rw, wg, activity, bad, per, 0x85ebca6bu * (t + 1)));
            }
            co_await wg.wait();
            if (bad.load() != 0) co_return 1;
            if (rw.debug_waiters() != 0) co_return 2;
            if (!rw.try_lock()) co_return 3;
            rw.unlock();
            co_return 0;
        };
        REQUIRE(goro::run(main_task(), {.procs = procs}) == 0);
    }
}
