// goro::wait_group, mutex, rw_mutex, once, cond, semaphore (go-semantics.md
// sections F-J). Misuse that is fatal in Go runs in a child process.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <goro/goro.hpp>

#include "support/child_process.hpp"
#include "support/watchdog.hpp"

using namespace std::chrono_literals;

// Copy detection (Go's TestCondCopy / "must not be copied after first use").
template <typename T>
constexpr bool pinned = !std::is_copy_constructible_v<T> && !std::is_move_constructible_v<T> &&
                        !std::is_copy_assignable_v<T> && !std::is_move_assignable_v<T>;
static_assert(pinned<goro::mutex> && pinned<goro::rw_mutex> && pinned<goro::wait_group> && pinned<goro::once> &&
              pinned<goro::cond> && pinned<goro::semaphore>);

namespace {

constexpr int k_div = goro_test::stress_divisor;

template <typename F>
void for_procs(F&& body) {
    for (unsigned procs : {1u, 2u, 4u}) {
        INFO("procs = " << procs);
        body(procs);
    }
}

}  // namespace

// ---------------------------------------------------------------- WaitGroup

TEST_CASE("item 23: wait releases every waiter only at zero; a group is reusable", "[sync]") {
    for_procs([](unsigned procs) {
        goro_test::watchdog dog("item 23", 30s);
        auto main_task = []() -> goro::task<int> {
            constexpr int n = 16;
            goro::wait_group wg1, wg2;
            goro::chan<int> exited(n);
            for (int round = 0; round < 8; ++round) {
                wg1.add(n);
                wg2.add(n);
                for (int i = 0; i < n; ++i) {
                    goro::go([](goro::wait_group& a, goro::wait_group& b, goro::chan<int> out) -> goro::task<> {
                        a.done();
                        co_await b.wait();
                        co_await out.send(1);
                    }(wg1, wg2, exited));
                }
                co_await wg1.wait();
                for (int i = 0; i < n; ++i) {
                    co_await goro::yield();
                    if (exited.try_recv()) co_return 1;  // released before the last done()
                    wg2.done();
                }
                for (int i = 0; i < n; ++i) co_await exited.recv();
            }
            co_return 0;
        };
        REQUIRE(goro::run(main_task(), {.procs = procs}) == 0);
    });
}

TEST_CASE("item 24: a negative counter throws 'sync: negative WaitGroup counter'", "[sync]") {
    goro::wait_group wg;
    wg.add(1);
    wg.done();
    REQUIRE_THROWS_AS(wg.done(), goro::negative_wait_group_counter);
    REQUIRE_THROWS_WITH(wg.done(), "sync: negative WaitGroup counter");
    try {
        wg.done();
    } catch (const goro::runtime_error&) {
        SUCCEED("derives from goro::runtime_error");
    }
    REQUIRE(wg.count() == 0);
}

TEST_CASE("item 25: wait returns only after every done, with effects visible; zero does not suspend", "[sync]") {
    for_procs([](unsigned procs) {
        auto main_task = []() -> goro::task<int> {
            {
                goro::wait_group fresh;
                auto aw = fresh.wait();
                if (!aw.await_ready()) co_return -1;  // must not suspend on a zero counter
            }
            for (int it = 0; it < 1000 / k_div; ++it) {
                goro::wait_group wg;
                int n = 0;  // plain int: the memory model through done() -> wait() must order it
                std::atomic<int> c{0};
                wg.add(2);
                for (int k = 0; k < 2; ++k)
                    goro::go([](goro::wait_group& w, std::atomic<int>& cnt) -> goro::task<> {
                        cnt.fetch_add(1, std::memory_order_relaxed);
                        w.done();
                        co_return;
                    }(wg, c));
                co_await wg.wait();
                n = c.load(std::memory_order_relaxed);
                if (n != 2) co_return n;
            }
            co_return 2;
        };
        REQUIRE(goro::run(main_task(), {.procs = procs}) == 2);
    });
}

// ---------------------------------------------------------------- Mutex

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

// ---------------------------------------------------------------- RWMutex

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

// ---------------------------------------------------------------- Once

TEST_CASE("item 33: once runs f exactly once; every call returns after it finished", "[sync]") {
    for_procs([](unsigned procs) {
        auto main_task = []() -> goro::task<int> {
            goro::once o;
            int counter = 0;  // plain: call()'s synchronization must order it
            std::atomic<int> bad{0};
            goro::wait_group wg;
            for (int i = 0; i < 10; ++i) {
                wg.add(1);
                goro::go([](goro::once& on, int& c, std::atomic<int>& b, goro::wait_group& w) -> goro::task<> {
                    co_await on.call([&]() -> goro::task<> {
                        co_await goro::sleep(1ms);  // keep the others waiting
                        ++c;
                    });
                    if (c != 1) b.fetch_add(1);
                    w.done();
                }(o, counter, bad, wg));
            }
            co_await wg.wait();
            co_return bad.load() == 0 && counter == 1 && o.done() ? 0 : 1;
        };
        REQUIRE(goro::run(main_task(), {.procs = procs}) == 0);
    });
}

TEST_CASE("item 33: if f throws, that call rethrows and the once is done", "[sync]") {
    auto main_task = []() -> goro::task<int> {
        goro::once o;
        bool threw = false;
        try {
            co_await o.call([] { throw std::runtime_error("once boom"); });
        } catch (const std::runtime_error& e) {
            threw = std::string(e.what()) == "once boom";
        }
        bool f2_ran = false;
        co_await o.call([&] { f2_ran = true; });
        co_return threw && !f2_ran ? 0 : 1;
    };
    REQUIRE(goro::run(main_task(), {.procs = 1}) == 0);
}

// ---------------------------------------------------------------- Cond

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

// ---------------------------------------------------------------- Semaphore

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

TEST_CASE("item 22 (sync): tasks parked on every primitive are destroyed cleanly at shutdown", "[sync]") {
    for_procs([](unsigned procs) {
        struct prims {
            goro::mutex m;
            goro::rw_mutex rw;
            goro::wait_group wg;
            goro::cond c;
            goro::mutex cm;
            goro::semaphore sem{1};
            goro::once o;
        };
        static prims* p = nullptr;  // outlives the parked frames (destroyed after run returns)
        p = new prims;
        auto main_task = []() -> goro::task<int> {
            co_await p->m.lock();
            co_await p->rw.lock();
            p->wg.add(1);
            co_await p->sem.acquire(1);
            for (int i = 0; i < 3; ++i) {
                goro::go([]() -> goro::task<> { co_await p->m.lock(); }());
                goro::go([]() -> goro::task<> { co_await p->rw.lock_shared(); }());
                goro::go([]() -> goro::task<> { co_await p->rw.lock(); }());
                goro::go([]() -> goro::task<> { co_await p->wg.wait(); }());
                goro::go([]() -> goro::task<> {
                    co_await p->cm.lock();
                    co_await p->c.wait(p->cm);
                }());
                goro::go([]() -> goro::task<> { co_await p->sem.acquire(1); }());
                goro::go([]() -> goro::task<> { co_await p->sem.acquire(5); }());  // too big: parked unqueued
                goro::go([]() -> goro::task<> {
                    co_await p->o.call([]() -> goro::task<> { co_await p->m.lock(); });
                }());
            }
            co_await goro::sleep(5ms);  // let them all park
            co_return 0;                // run() destroys the parked frames: each unlinks itself
        };
        REQUIRE(goro::run(main_task(), {.procs = procs}) == 0);
        delete p;
        p = nullptr;
    });
}
