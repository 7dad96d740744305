// The deadlock detector (runtime/deadlock.cpp, check_deadlock_locked):
// docs/go-behaviours.md, section P, items 79 and 81, plus item 34 (a recursive
// once). Every scenario runs in a child process (the report exits with 2).
#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <csignal>
#include <string>

#include <goro/goro.hpp>

#include "support/child_process.hpp"

using namespace std::chrono_literals;

namespace {

constexpr const char* k_banner = "fatal error: all goroutines are asleep - deadlock!";

// Runs `make_main()` as goro's main task in a child with the given procs.
// SIGQUIT starts with its default action in the child: a shell that runs the
// suite as a background job hands its children SIGQUIT ignored, and goro
// leaves an ignored SIGQUIT alone.
template <typename MakeMain>
goro_test::child_result run_child(MakeMain make_main, unsigned procs, std::chrono::milliseconds limit = 10s,
                                  void (*sigquit_action)(int) = SIG_DFL) {
    return goro_test::run_in_child(
        [&] {
            ::signal(SIGQUIT, sigquit_action);
            goro::run(make_main(), {.procs = procs});
            return 0;
        },
        limit);
}

void expect_deadlock(const goro_test::child_result& r, const char* reason) {
    INFO(r.stderr_text);
    CHECK_FALSE(r.timed_out);
    CHECK(r.exit_status == 2);
    CHECK_THAT(r.stderr_text, Catch::StartsWith(k_banner));
    CHECK_THAT(r.stderr_text, Catch::Contains(std::string("[") + reason + "]"));
}

// A join_all's deadlock: main parked on [join], its blocked child on
// `reason`, and nothing else listed (each goroutine once).
void expect_join_all_deadlock(const goro_test::child_result& r, const char* reason) {
    expect_deadlock(r, reason);
    CHECK_THAT(r.stderr_text, Catch::Contains("goroutine 1 [join]"));
    std::size_t listed = 0;
    for (std::size_t at = r.stderr_text.find("\ngoroutine "); at != std::string::npos;
         at = r.stderr_text.find("\ngoroutine ", at + 1))
        ++listed;
    CHECK(listed == 2);
}

}  // namespace

TEST_CASE("item 79: main blocked on a mutex it holds is reported", "[deadlock]") {
    for (unsigned procs : {1u, 2u}) {
        auto r = run_child(
            [] {
                return []() -> goro::task<> {
                    goro::mutex m;
                    co_await m.lock();
                    co_await m.lock();
                }();
            },
            procs);
        expect_deadlock(r, "sync.Mutex.Lock");
        CHECK_THAT(r.stderr_text, Catch::Contains("main task"));
    }
}

TEST_CASE("item 79: main blocked on a wait_group, with a helper blocked on a channel", "[deadlock]") {
    auto r = run_child(
        [] {
            return []() -> goro::task<> {
                goro::wait_group wg;
                goro::chan<int> never;
                wg.add(1);
                goro::go([](goro::chan<int> c, goro::wait_group& w) -> goro::task<> {
                    co_await c.recv();
                    w.done();
                }(never, wg));
                co_await wg.wait();
            }();
        },
        2);
    expect_deadlock(r, "sync.WaitGroup.Wait");
    CHECK_THAT(r.stderr_text, Catch::Contains("[chan receive]"));
    CHECK_THAT(r.stderr_text, Catch::Contains("spawned at"));
}

TEST_CASE("item 79: main blocked on a cond, rw_mutex and semaphore", "[deadlock]") {
    auto cond_case = run_child(
        [] {
            return []() -> goro::task<> {
                goro::mutex m;
                goro::cond c;
                co_await m.lock();
                co_await c.wait(m);
            }();
        },
        2);
    expect_deadlock(cond_case, "sync.Cond.Wait");

    auto rw_case = run_child(
        [] {
            return []() -> goro::task<> {
                goro::rw_mutex rw;
                co_await rw.lock_shared();
                co_await rw.lock();  // a writer waiting on its own read lock
            }();
        },
        1);
    expect_deadlock(rw_case, "sync.RWMutex.Lock");

    auto sem_case = run_child(
        [] {
            return []() -> goro::task<> {
                goro::semaphore s(1);
                co_await s.acquire(1);
                co_await s.acquire(1);
            }();
        },
        2);
    expect_deadlock(sem_case, "semacquire");
}

// The report comes from the scheduler noticing that no goroutine can run
// (no sleep, no timeout): run_child's own time limit is the hang guard.
TEST_CASE("item 79: main in an empty select is reported as a deadlock", "[deadlock]") {
    auto r = run_child([] { return []() -> goro::task<> { co_await goro::select(); }(); }, 2);
    expect_deadlock(r, "select (no cases)");
}

TEST_CASE("item 34: a recursive once.call deadlocks and is reported", "[deadlock]") {
    auto r = run_child(
        [] {
            return []() -> goro::task<> {
                goro::once o;
                co_await o.call([&o]() -> goro::task<> { co_await o.call([] {}); });
            }();
        },
        1);
    expect_deadlock(r, "sync.Mutex.Lock");
}

TEST_CASE("item 81: a sleeping task that will wake main suppresses the report", "[deadlock]") {
    for (unsigned procs : {1u, 2u}) {
        auto r = run_child(
            [] {
                return []() -> goro::task<> {
                    goro::chan<int> c;
                    goro::go([](goro::chan<int> ch) -> goro::task<> {
                        co_await goro::sleep(200ms);
                        co_await ch.send(1);
                    }(c));
                    co_await c.recv();
                }();
            },
            procs);
        INFO(r.stderr_text);
        CHECK(r.exit_status == 0);
        CHECK(r.stderr_text.empty());
    }
}

TEST_CASE("item 81: a partial deadlock is not reported while main runs", "[deadlock]") {
    auto r = run_child(
        [] {
            return []() -> goro::task<> {
                static goro::mutex a, b;  // outlive the stuck tasks (destroyed at shutdown)
                goro::chan<int> both_locked(2);
                auto stuck = [](goro::mutex& first, goro::mutex& second, goro::chan<int> c) -> goro::task<> {
                    co_await first.lock();
                    co_await c.send(1);
                    co_await goro::sleep(10ms);
                    co_await second.lock();  // lock-order inversion: never returns
                };
                goro::go(stuck(a, b, both_locked));
                goro::go(stuck(b, a, both_locked));
                co_await both_locked.recv();
                co_await both_locked.recv();
                co_await goro::sleep(200ms);  // the two are deadlocked; main is not
            }();
        },
        2);
    INFO(r.stderr_text);
    CHECK(r.exit_status == 0);
    CHECK(r.stderr_text.empty());
}

TEST_CASE("item 81: a wait_group released by a task that sleeps first is not a deadlock", "[deadlock]") {
    auto r = run_child(
        [] {
            return []() -> goro::task<> {
                goro::wait_group wg;
                goro::mutex m;
                co_await m.lock();
                wg.add(1);
                goro::go([](goro::mutex& mu, goro::wait_group& w) -> goro::task<> {
                    co_await goro::sleep(100ms);
                    mu.unlock();  // unlock by another task (not owned)
                    w.done();
                }(m, wg));
                co_await wg.wait();
                co_await m.lock();
                m.unlock();
            }();
        },
        1);
    INFO(r.stderr_text);
    CHECK(r.exit_status == 0);
    CHECK(r.stderr_text.empty());
}

// The README's promise: a task dump on SIGQUIT with each task's state and
// spawn site, as Go prints every goroutine and exits with status 2.
namespace {
goro::task<> blocked_receiver(goro::chan<int> c) { co_await c.recv(); }
}  // namespace

TEST_CASE("SIGQUIT prints every goroutine with its state and spawn site, then exits 2", "[deadlock][dump]") {
    for (unsigned procs : {1u, 2u}) {
        auto r = run_child(
            [] {
                return []() -> goro::task<> {
                    goro::chan<int> c;
                    goro::go(blocked_receiver(c));
                    co_await goro::sleep(10ms);  // let it park
                    ::raise(SIGQUIT);            // handled on this thread: only wakes the dump thread
                    co_await goro::sleep(1h);    // a timer pending: no deadlock report
                }();
            },
            procs);
        INFO("procs = " << procs << "\n" << r.stderr_text);
        CHECK_FALSE(r.timed_out);
        CHECK(r.exit_status == 2);
        CHECK_THAT(r.stderr_text, Catch::StartsWith("SIGQUIT: quit"));
        CHECK_THAT(r.stderr_text, Catch::Contains("goroutine 1 [sleep]"));
        CHECK_THAT(r.stderr_text, Catch::Contains("main task (goro::run)"));
        CHECK_THAT(r.stderr_text, Catch::Contains("[chan receive]"));
        CHECK_THAT(r.stderr_text, Catch::Contains("deadlock_test.cpp"));
        // The spawning function by its name, not g++'s mangled frame type.
        CHECK_THAT(r.stderr_text, !Catch::Contains(".Frame*"));
        CHECK_THAT(r.stderr_text, !Catch::Contains("(_Z"));
        CHECK_THAT(r.stderr_text, !Catch::Contains("racy snapshot"));
    }
}

TEST_CASE("SIGQUIT during a goroutine that never suspends still dumps (after a second)", "[deadlock][dump]") {
    auto r = run_child(
        [] {
            return []() -> goro::task<> {
                ::raise(SIGQUIT);
                // Never reaches the scheduler again. (The empty volatile asm is
                // a side effect: clang removed a loop on a never-written atomic.)
                for (;;) asm volatile("" ::: "memory");
                co_return;
            }();
        },
        1);
    INFO(r.stderr_text);
    CHECK_FALSE(r.timed_out);
    CHECK(r.exit_status == 2);
    CHECK_THAT(r.stderr_text, Catch::StartsWith("SIGQUIT: quit"));
    CHECK_THAT(r.stderr_text, Catch::Contains("racy snapshot"));
    CHECK_THAT(r.stderr_text, Catch::Contains("goroutine 1 ["));
}

TEST_CASE("SIGQUIT ignored by the program: no dump, the program goes on", "[deadlock][dump]") {
    auto r = run_child(
        [] {
            return []() -> goro::task<> {
                ::raise(SIGQUIT);  // ignored: nothing happens
                co_await goro::sleep(10ms);
            }();
        },
        2, 10s, SIG_IGN);
    INFO(r.stderr_text);
    CHECK_FALSE(r.timed_out);
    CHECK(r.exit_status == 0);
    CHECK(r.stderr_text.empty());
}

TEST_CASE("a join_all whose child blocks forever is reported: the joiner on join, the child on its channel",
          "[deadlock][join_all]") {
    // Child 1 of 3 blocks; the others finish. At one processor it runs in
    // place (main's record parks inside it); at two it may be stolen (main
    // then waits for it). Either way the report lists main and child 1,
    // each once, and nothing else.
    for (unsigned procs : {1u, 2u}) {
        auto r = run_child(
            [] {
                return []() -> goro::task<> {
                    goro::chan<int> never;
                    std::array<goro::join_handle<int>, 3> handles;
                    for (int i = 0; i < 3; ++i) {
                        handles[i] = goro::spawn([never, i]() -> goro::task<int> {
                            if (i == 1) co_await never.recv();
                            co_return i;
                        });
                    }
                    co_await goro::join_all(std::move(handles));
                }();
            },
            procs);
        INFO("procs " << procs);
        expect_join_all_deadlock(r, "chan receive");
    }
}

namespace {

goro::task<int> receives_forever(goro::chan<int> never) {
    co_await never.recv();
    co_return 1;
}

}  // namespace

TEST_CASE("a one-child join_all whose child blocks forever is reported: the joiner on join, the child on its channel",
          "[deadlock][join_all]") {
    // join_all(tasks, 1) joins its one child as a join_handle does
    // (join_all_awaiter::join_one): run in place at one processor, maybe
    // stolen at two. The task past the count never starts and is not listed.
    for (unsigned procs : {1u, 2u}) {
        auto r = run_child(
            [] {
                return []() -> goro::task<> {
                    goro::chan<int> never;
                    std::array<goro::task<int>, 2> tasks{receives_forever(never), receives_forever(never)};
                    co_await goro::join_all(std::move(tasks), 1);
                }();
            },
            procs);
        INFO("procs " << procs);
        expect_join_all_deadlock(r, "chan receive");
    }
}
