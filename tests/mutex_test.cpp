// goro::mutex, with and without a context (docs/go-behaviours.md, section G).
// Misuse that is fatal in Go runs in a child process.
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

TEST_CASE("item 27: mutual exclusion under contention (10 tasks x 1000)", "[sync][stress]") {
    for_procs([](unsigned procs) {
        goro_test::watchdog dog("item 27", 30s);
        auto main_task = []() -> goro::task<long> {
            goro::mutex m;
            goro::wait_group wg;
            long counter = 0;  // plain: TSan checks the lock's happens-before
            const int per = 1000 * (k_div == 1 ? 10 : 1);
            for (int t = 0; t < 10; ++t) {
                wg.add(1);
                goro::go([](goro::mutex& mu, goro::wait_group& w, long& c, int n) -> goro::task<> {
                    for (int i = 0; i < n; ++i) {
                        co_await mu.lock();
                        ++c;
                        if (i % 7 == 0) co_await goro::yield();  // hold it across a reschedule sometimes
                        mu.unlock();
                        if (i % 3 == 0) co_await goro::yield();
                    }
                    w.done();
                }(m, wg, counter, per));
            }
            co_await wg.wait();
            co_return counter == 10L * per ? 10000 : counter;
        };
        REQUIRE(goro::run(main_task(), {.procs = procs}) == 10000);
    });
}

TEST_CASE("item 27: try_lock, scoped_lock, and unlock by another task", "[sync]") {
    auto main_task = []() -> goro::task<int> {
        goro::mutex m;
        if (!m.try_lock()) co_return 1;
        if (m.try_lock()) co_return 2;
        m.unlock();
        {
            auto g = co_await m.scoped_lock();
            if (!g.owns_lock() || m.try_lock()) co_return 3;
        }
        if (!m.try_lock()) co_return 4;
        m.unlock();
        // A locks, hands over to B through a channel; B unlocks; A re-locks.
        goro::chan<int> handoff;
        co_await m.lock();
        auto b = goro::spawn([](goro::mutex& mu, goro::chan<int> c) -> goro::task<> {
            co_await c.recv();
            mu.unlock();
        }(m, handoff));
        co_await handoff.send(1);
        co_await m.lock();  // parks until B unlocked
        co_await std::move(b);
        m.unlock();
        co_return 0;
    };
    REQUIRE(goro::run(main_task(), {.procs = 2}) == 0);
}

TEST_CASE("item 28: unlock of an unlocked mutex / RWMutex misuse is fatal", "[sync]") {
    struct misuse_case {
        const char* name;
        int (*scenario)();
    };
    const misuse_case cases[] = {
        {"Mutex.Unlock",
         [] {
             goro::mutex m;
             try {
                 m.unlock();
             } catch (...) {
                 return 0;  // must not be catchable
             }
             return 0;
         }},
        {"Mutex.Unlock2",
         [] {
             goro::mutex m;
             (void)m.try_lock();
             m.unlock();
             m.unlock();
             return 0;
         }},
        {"RWMutex.Unlock",
         [] {
             goro::rw_mutex m;
             m.unlock();
             return 0;
         }},
        {"RWMutex.Unlock2",
         [] {
             goro::rw_mutex m;
             (void)m.try_lock_shared();
             m.unlock();
             return 0;
         }},
        {"RWMutex.Unlock3",
         [] {
             goro::rw_mutex m;
             (void)m.try_lock();
             m.unlock();
             m.unlock();
             return 0;
         }},
        {"RWMutex.RUnlock",
         [] {
             goro::rw_mutex m;
             m.unlock_shared();
             return 0;
         }},
        {"RWMutex.RUnlock2",
         [] {
             goro::rw_mutex m;
             (void)m.try_lock();
             m.unlock_shared();
             return 0;
         }},
        {"RWMutex.RUnlock3",
         [] {
             goro::rw_mutex m;
             (void)m.try_lock_shared();
             m.unlock_shared();
             m.unlock_shared();
             return 0;
         }},
    };
    for (const auto& c : cases) {
        INFO(c.name);
        auto r = goro_test::run_in_child(c.scenario, 10s);
        CHECK(r.exit_status == 2);
        CHECK_THAT(r.stderr_text, Catch::StartsWith("fatal error: sync: ") && Catch::Contains("nlock of unlocked"));
    }
}

TEST_CASE("item 29: no starvation: a waiter over 1 ms gets the lock against a re-locking hog", "[sync][stress]") {
    for (unsigned procs : {1u, 2u}) {
        INFO("procs = " << procs);
        goro_test::watchdog dog("item 29", 20s);
        auto main_task = []() -> goro::task<double> {
            goro::mutex m;
            std::atomic<bool> stop{false};
            goro::wait_group wg;
            wg.add(1);
            goro::go([](goro::mutex& mu, std::atomic<bool>& st, goro::wait_group& w) -> goro::task<> {
                while (!st.load(std::memory_order_relaxed)) {
                    co_await mu.lock();
                    co_await goro::sleep(100us);
                    mu.unlock();
                }
                w.done();
            }(m, stop, wg));
            const auto start = std::chrono::steady_clock::now();
            for (int i = 0; i < 10; ++i) {
                co_await goro::sleep(100us);
                co_await m.lock();
                m.unlock();
            }
            const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            stop.store(true);
            co_await wg.wait();
            co_return secs;
        };
        const double secs = goro::run(main_task(), {.procs = procs});
        CHECK(secs < 10.0);
    }
}

TEST_CASE("mutex hand-off stress: many tasks, short and long holds, every procs", "[sync][stress]") {
    for_procs([](unsigned procs) {
        goro_test::watchdog dog("mutex stress", 60s);
        auto main_task = []() -> goro::task<long> {
            goro::mutex m;
            goro::wait_group wg;
            long counter = 0;
            const int tasks = 32, per = 2000 / k_div;
            for (int t = 0; t < tasks; ++t) {
                wg.add(1);
                goro::go([](goro::mutex& mu, goro::wait_group& w, long& c, int n, int id) -> goro::task<> {
                    for (int i = 0; i < n; ++i) {
                        auto g = co_await mu.scoped_lock();
                        ++c;
                        if ((i + id) % 500 == 0) co_await goro::sleep(1500us);  // force starvation mode
                    }
                    w.done();
                }(m, wg, counter, per, t));
            }
            co_await wg.wait();
            if (!m.try_lock()) co_return -1;  // the mutex is usable (not stuck starving)
            m.unlock();
            co_return counter - long{tasks} * per;
        };
        REQUIRE(goro::run(main_task(), {.procs = procs}) == 0);
    });
}

// ---------------------------------------------------------------- Mutex / RWMutex with a context
//
// lock(ctx) has no Go sync equivalent; it follows x/sync/semaphore's
// Acquire(ctx) (item 38's "a failed Acquire leaves the semaphore unchanged")
// and must keep item 27 (mutual exclusion) and item 29 (starvation hand-off).

TEST_CASE("item 38/27: mutex lock(ctx) cancelled while waiting leaves the queue; the mutex stays usable",
          "[sync]") {
    for (unsigned procs : {1u, 4u}) {
        INFO("procs = " << procs);
        goro_test::watchdog dog("mutex lock(ctx) cancel", 30s);
        auto main_task = []() -> goro::task<int> {
            goro::mutex m;
            co_await m.lock();
            auto [ctx, cancel] = goro::with_cancel(goro::background());
            goro::chan<std::error_code> result(1);
            goro::go([](goro::mutex& mu, goro::context c, goro::chan<std::error_code> out) -> goro::task<> {
                const std::error_code e = co_await mu.lock(c);
                co_await out.send(e);
            }(m, ctx, result));
            co_await until([&] { return m.debug_waiters() == 1; });  // parked in the queue
            cancel();
            const auto e = co_await result.recv();
            if (!e || *e != goro::context_errc::canceled) co_return 1;
            if (m.debug_waiters() != 0) co_return 2;  // it left the queue
            m.unlock();
            // A departed waiter must not be handed the lock: others get it.
            if (!m.try_lock()) co_return 3;
            m.unlock();
            goro::chan<int> done(1);
            co_await m.lock();
            goro::go([](goro::mutex& mu, goro::chan<int> out) -> goro::task<> {
                co_await mu.lock();
                mu.unlock();
                co_await out.send(1);
            }(m, done));
            co_await until([&] { return m.debug_waiters() == 1; });
            m.unlock();
            const auto d = co_await done.recv();
            co_return d ? 0 : 4;
        };
        REQUIRE(goro::run(main_task(), {.procs = procs}) == 0);
    }
}

TEST_CASE("item 38/27: mutex lock(ctx) with a done context fails at once, even when free", "[sync]") {
    auto main_task = []() -> goro::task<int> {
        goro::mutex m;
        auto [ctx, cancel] = goro::with_cancel(goro::background());
        cancel();
        const std::error_code e = co_await m.lock(ctx);
        if (e != goro::context_errc::canceled) co_return 1;
        if (m.is_locked()) co_return 2;  // nothing taken
        // A background context never fails: lock(ctx) is lock().
        const std::error_code ok = co_await m.lock(goro::background());
        if (ok || !m.is_locked()) co_return 3;
        m.unlock();
        co_return 0;
    };
    REQUIRE(goro::run(main_task(), {.procs = 2}) == 0);
}

TEST_CASE("item 38/27: mutex lock(ctx) with a timeout gives deadline_exceeded; a later lock(ctx) succeeds",
          "[sync]") {
    for (unsigned procs : {1u, 4u}) {
        INFO("procs = " << procs);
        auto main_task = []() -> goro::task<int> {
            goro::mutex m;
            co_await m.lock();
            auto [tctx, tcancel] = goro::with_timeout(goro::background(), 20ms);
            const std::error_code e = co_await m.lock(tctx);  // held by us: can only time out
            if (e != goro::context_errc::deadline_exceeded || !goro::is_timeout(e)) co_return 1;
            if (m.debug_waiters() != 0) co_return 2;
            // Now a waiter with a long timeout gets the lock when we unlock.
            auto [lctx, lcancel] = goro::with_timeout(goro::background(), 1h);
            goro::chan<std::error_code> result(1);
            goro::go([](goro::mutex& mu, goro::context c, goro::chan<std::error_code> out) -> goro::task<> {
                const std::error_code r = co_await mu.lock(c);
                if (!r) mu.unlock();
                co_await out.send(r);
            }(m, lctx, result));
            co_await until([&] { return m.debug_waiters() == 1; });
            m.unlock();
            const auto r = co_await result.recv();
            if (!r || *r) co_return 3;
            co_return m.is_locked() ? 4 : 0;
        };
        REQUIRE(goro::run(main_task(), {.procs = procs}) == 0);
    }
}

TEST_CASE("item 29/38: cancelling every waiter of a starving mutex leaves it usable", "[sync]") {
    for (unsigned procs : {1u, 4u}) {
        INFO("procs = " << procs);
        goro_test::watchdog dog("starving mutex cancel", 30s);
        auto main_task = []() -> goro::task<int> {
            goro::mutex m;
            auto [ctx, cancel] = goro::with_cancel(goro::background());
            goro::wait_group wg;
            std::atomic<int> ok{0}, failed{0};
            co_await m.lock();
            // Waiters that wait > 1 ms and are woken while the lock is re-taken
            // set `starving`; then all are cancelled while we still hold it.
            for (int i = 0; i < 8; ++i) {
                wg.add(1);
                goro::go([](goro::mutex& mu, goro::context c, std::atomic<int>& o, std::atomic<int>& f,
                            goro::wait_group& w) -> goro::task<> {
                    const std::error_code e = co_await mu.lock(c);
                    if (!e) {
                        o.fetch_add(1);
                        mu.unlock();
                    } else {
                        f.fetch_add(1);
                    }
                    w.done();
                }(m, ctx, ok, failed, wg));
            }
            co_await until([&] { return m.debug_waiters() == 8; });
            co_await goro::sleep(2ms);  // ages the waiters past 1 ms (not synchronisation)
            // Re-take the lock right after the unlock: the woken head waiter
            // either has not run yet (it owns the woken bit and must hand it
            // back when it finds the context done: one processor), or it lost
            // the race, set `starving` and re-queued at the front (several):
            // either way every waiter is then cancelled while we hold the lock.
            m.unlock();
            co_await m.lock();
            cancel();
            co_await wg.wait();
            if (ok.load() + failed.load() != 8) co_return 1;
            if (m.debug_waiters() != 0) co_return 2;
            m.unlock();
            if (!m.try_lock()) co_return 3;  // not stuck in starvation mode
            m.unlock();
            co_return 0;
        };
        REQUIRE(goro::run(main_task(), {.procs = procs}) == 0);
    }
}

TEST_CASE("item 27/29/38 [HARD]: mutex stress, random waiters cancelled or timed out", "[sync][stress]") {
    for (unsigned procs : {1u, 4u}) {
        INFO("procs = " << procs);
        goro_test::watchdog dog("mutex lock(ctx) stress", 120s);
        auto main_task = []() -> goro::task<int> {
            goro::mutex m;
            goro::wait_group wg;
            long counter = 0;             // plain: guarded by m
            std::atomic<long> acquired{0}, gave_up{0};
            std::atomic<int> overlap{0};
            std::atomic<bool> inside{false};
            const int tasks = 24, per = 1500 / k_div;
            for (int t = 0; t < tasks; ++t) {
                wg.add(1);
                goro::go([](goro::mutex& mu, goro::wait_group& w, long& c, std::atomic<long>& acq,
                            std::atomic<long>& quit, std::atomic<int>& ov, std::atomic<bool>& in, int n,
                            unsigned seed) -> goro::task<> {
                    auto next = [&seed] {
                        seed ^= seed << 13;
                        seed ^= seed >> 17;
                        seed ^= seed << 5;
                        return seed;
                    };
                    for (int i = 0; i < n; ++i) {
                        const unsigned kind = next() % 4;
                        std::error_code e;
                        if (kind == 0) {
                            co_await mu.lock();
                        } else if (kind == 1) {
                            // Timed out by its own deadline timer.
                            auto [ctx, cancel] = goro::with_timeout(goro::background(),
                                                                    std::chrono::microseconds(next() % 300));
                            e = co_await mu.lock(ctx);
                        } else if (kind == 2) {
                            // Cancelled by another task (an after_func goroutine).
                            auto [ctx, cancel] = goro::with_cancel(goro::background());
                            goro::timer killer =
                                goro::after_func(std::chrono::microseconds(next() % 300), [c = cancel] { c(); });
                            e = co_await mu.lock(ctx);
                        } else {
                            auto [ctx, cancel] = goro::with_cancel(goro::background());
                            e = co_await mu.lock(ctx);  // never cancelled
                        }
                        if (e) {
                            quit.fetch_add(1);
                            continue;
                        }
                        if (in.exchange(true)) ov.fetch_add(1);
                        ++c;
                        acq.fetch_add(1);
                        if (next() % 64 == 0)
                            co_await goro::sleep(1500us);  // old waiters: starvation mode
                        else if (next() % 4 == 0)
                            co_await goro::yield();  // let waiters queue up
                        in.store(false);
                        mu.unlock();
                    }
                    w.done();
                }(m, wg, counter, acquired, gave_up, overlap, inside, per, 0x9e3779b9u * (t + 1)));
            }
            co_await wg.wait();
            if (overlap.load() != 0) co_return 1;
            if (counter != acquired.load()) co_return 2;
            if (acquired.load() + gave_up.load() != long{tasks} * per) co_return 3;
            if (m.debug_waiters() != 0) co_return 4;
            if (!m.try_lock()) co_return 5;  // free, and not stuck starving
            m.unlock();
            co_return 0;
        };
        REQUIRE(goro::run(main_task(), {.procs = procs}) == 0);
    }
}
