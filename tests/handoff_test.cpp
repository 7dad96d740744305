// Hand-off (runtime/handoff.cpp): the monitor takes a processor whose task
// has run for a time slice from its thread and gives it to a spare thread.
// Every test asserts behaviour, never timing: a task queued behind a task
// that never suspends must run (it cannot without a hand-off: each of these
// hangs without one, and the child-process limit turns that into a
// failure), work done by a task after its processor was taken must land
// correctly, and nothing must hang, leak or be reported as a deadlock.
// Each scenario runs on both drivers. The I/O in flight that moves with a
// handed-off processor: handoff_io_test.cpp.
#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <goro/goro.hpp>

#include "support/child_process.hpp"
#include "support/each_driver.hpp"
#include "support/threads.hpp"

using namespace std::chrono_literals;
using goro::task;
using goro_test::k_netpolls;
using goro_test::netpoll_of;
using goro_test::on_each_driver_in_child;
using goro_test::one_proc;

namespace {

// Spins until `flag` is set, without suspending: the task holds its thread
// (and, until a hand-off, its processor). No sched_yield: a thread that
// yields on a loaded machine gets too little CPU for the monitor to call it
// stuck (it looks like one waiting for a CPU: sysmon.cpp, thread_stuck).
void spin_until(const std::atomic<bool>& flag) {
    while (!flag.load(std::memory_order_acquire)) {
    }
}

task<void> set_flag(std::atomic<bool>* flag) {
    flag->store(true, std::memory_order_release);
    co_return;
}

// Queues set_flag(flag) behind itself on its own processor, then computes
// for `d` without suspending: 1 if the queued task ran meanwhile (someone
// took the processor), 0 if not. For the cases where no hand-off may happen.
task<int> compute_with_one_queued(std::atomic<bool>* flag, std::chrono::milliseconds d) {
    goro::go(set_flag(flag));
    const auto until = std::chrono::steady_clock::now() + d;
    while (std::chrono::steady_clock::now() < until)
        if (flag->load()) co_return 1;
    co_return 0;
}

task<void> count_up(std::atomic<int>* counter) {
    counter->fetch_add(1, std::memory_order_acq_rel);
    co_return;
}

// ---- a task keeps working after its processor was taken ----

task<int> echo_once(goro::net::unix_stream s) {
    char c = 0;
    auto n = co_await s.read_exact(&c, 1);
    if (!n) co_return 1;
    auto w = co_await s.write_all(std::string_view(&c, 1));
    co_return w ? 0 : 2;
}

task<int> receiver(goro::chan<int> ch, std::atomic<int>* got) {
    auto v = co_await ch.recv();
    if (v) got->store(*v, std::memory_order_release);
    co_return 0;
}

// The stuck task: spawns a task onto its own processor, spins until that
// task ran (so the processor was handed off: nothing else could run it),
// then, without a processor, spawns, readies a receiver, arms a timer,
// starts I/O and sleeps; every one of those must complete.
task<int> stuck_then_busy(goro::chan<int> to_receiver, goro::net::unix_stream mine) {
    std::atomic<bool> ran{false};
    goro::go(set_flag(&ran));
    spin_until(ran);

    std::atomic<int> spawned{0};
    std::vector<goro::join_handle<void>> joins;
    for (int i = 0; i < 200; ++i) goro::go(count_up(&spawned));
    for (int i = 0; i < 50; ++i) joins.push_back(goro::spawn(count_up(&spawned)));
    const bool sent = to_receiver.try_send(42);  // readies the receiver
    goro::timer armed(1ms);                      // a timer armed without a processor
    auto w = co_await mine.write_all("x");        // I/O started without a processor
    if (!w) co_return 10;
    char c = 0;
    auto r = co_await mine.read_exact(&c, 1);
    if (!r || c != 'x') co_return 11;
    co_await armed.c().recv();
    co_await goro::sleep(1ms);
    for (auto& j : joins) co_await std::move(j);
    while (spawned.load() < 250) co_await goro::yield();
    co_return sent ? 0 : 12;
}

}  // namespace

TEST_CASE("handoff: a task queued behind a task that never suspends runs (one processor)", "[handoff]") {
    on_each_driver_in_child([](const char* netpoll) {
        auto main_task = []() -> task<int> {
            std::atomic<bool> ran{false};
            auto hog = [](std::atomic<bool>* flag) -> task<void> {
                std::atomic<bool> mine{false};
                goro::go(set_flag(&mine));  // queued on this processor, behind us
                spin_until(mine);
                flag->store(true, std::memory_order_release);
                co_return;
            };
            co_await goro::spawn(hog(&ran));
            co_return ran.load() ? 0 : 1;
        };
        return goro::run(main_task(), one_proc(netpoll));
    });
}

TEST_CASE("handoff: every task CPU-bound, every processor still makes progress", "[handoff]") {
    // Two processors, two tasks spinning until main says stop: main's sleep
    // timer sits on a processor whose thread computes, and only a hand-off
    // lets it fire.
    on_each_driver_in_child([](const char* netpoll) {
        auto main_task = []() -> task<int> {
            std::atomic<bool> stop{false};
            std::atomic<int> started{0};
            auto spinner = [](std::atomic<bool>* s, std::atomic<int>* st) -> task<void> {
                st->fetch_add(1);
                spin_until(*s);
                co_return;
            };
            auto a = goro::spawn(spinner(&stop, &started));
            auto b = goro::spawn(spinner(&stop, &started));
            while (started.load() < 2) co_await goro::sleep(1ms);
            // Both processors' threads are spinning; a third task runs too.
            std::atomic<bool> third{false};
            co_await goro::spawn(set_flag(&third));
            stop.store(true);
            co_await std::move(a);
            co_await std::move(b);
            co_return third.load() ? 0 : 1;
        };
        goro::options o;
        o.procs = 2;
        o.time_slice = 2ms;
        o.netpoll = netpoll_of(netpoll);
        return goro::run(main_task(), o);
    });
}

TEST_CASE("handoff: the stuck task spawns, readies, arms timers and does I/O without its processor", "[handoff]") {
    on_each_driver_in_child([](const char* netpoll) {
        auto main_task = []() -> task<int> {
            goro::chan<int> ch;
            std::atomic<int> got{0};
            auto pair = goro::net::unix_stream::pair();
            if (!pair) co_return 20;
            std::pair<goro::net::unix_stream, goro::net::unix_stream> ends = std::move(*pair);
            auto echo = goro::spawn(echo_once(std::move(ends.second)));
            auto recv = goro::spawn(receiver(ch, &got));
            co_await goro::yield();  // the receiver waits on the channel
            const int rc = co_await goro::spawn(stuck_then_busy(ch, std::move(ends.first)));
            if (rc != 0) co_return rc;
            const int echoed = co_await std::move(echo);
            if (echoed != 0) co_return 21;
            co_await std::move(recv);
            co_return got.load() == 42 ? 0 : 22;
        };
        return goro::run(main_task(), one_proc(netpoll));
    });
}

namespace {

// A child of a join_all that loses its processor: it queues a task behind
// itself and spins until that task ran, which only a hand-off allows.
task<int> join_all_child(int i) {
    if (i == 3) {
        std::atomic<bool> ran{false};
        goro::go(set_flag(&ran));
        spin_until(ran);
    }
    co_return i;
}

}  // namespace

TEST_CASE("handoff: a join_all whose child, run in place, lost the processor waits for the rest", "[handoff][join_all]") {
    // One processor: child 3 runs first, in place, and ends on a thread
    // without a processor, which takes no more children in place: the join
    // waits for children 0 to 2, which the processor's new thread runs.
    on_each_driver_in_child([](const char* netpoll) {
        auto main_task = []() -> task<int> {
            std::array<goro::join_handle<int>, 4> handles;
            for (int i = 0; i < 4; ++i) handles[i] = goro::spawn(join_all_child(i));
            const std::array<int, 4> v = co_await goro::join_all(std::move(handles));
            co_return v[0] == 0 && v[1] == 1 && v[2] == 2 && v[3] == 3 ? 0 : 1;
        };
        return goro::run(main_task(), one_proc(netpoll));
    });
}

TEST_CASE("handoff: a thousand hand-offs in a row reuse spare threads", "[handoff]") {
    constexpr int k_rounds = 1000;
    on_each_driver_in_child([](const char* netpoll) {
        auto main_task = []() -> task<int> {
            int done = 0;
            for (int i = 0; i < k_rounds; ++i) {
                auto hog = []() -> task<void> {
                    std::atomic<bool> mine{false};
                    goro::go(set_flag(&mine));
                    spin_until(mine);  // needs a hand-off
                    co_return;
                };
                co_await goro::spawn(hog());
                ++done;
            }
            // The machines that lost their processor were reused as spares:
            // one processor, the monitor, and a few spares at most, not one
            // thread per hand-off.
            const int threads = goro_test::thread_count();
            if (threads > 12) co_return 100 + threads;
            // Each round finished only through a hand-off, and metrics saw
            // them (the monitor counts one just after the new thread may
            // have run the round to its end: a moment to catch up).
            for (int i = 0; i < 5000 && goro::metrics().handoffs < static_cast<std::uint64_t>(k_rounds); ++i)
                co_await goro::sleep(1ms);
            const auto m = goro::metrics();
            if (m.handoffs < static_cast<std::uint64_t>(k_rounds)) co_return 2;
            if (m.threads < m.procs + m.spare_threads || m.spare_threads == 0) co_return 3;
            co_return done == k_rounds ? 0 : 1;
        };
        return goro::run(main_task(), one_proc(netpoll));
    }, 120s);
}

TEST_CASE("handoff: at max_threads there is no hand-off, and the program is still right", "[handoff]") {
    // procs 1, max_threads 2: the one thread beyond the processor stays for
    // the blocking pool, so no spare thread may be made.
    on_each_driver_in_child([](const char* netpoll) {
        auto main_task = []() -> task<int> {
            std::atomic<bool> ran{false};
            // Long enough for many time slices; the queued task must not run
            // meanwhile (nobody may take the processor).
            const int rc = co_await goro::spawn(compute_with_one_queued(&ran, 100ms));
            if (rc != 0) co_return rc;
            co_await goro::yield();
            if (!ran.load()) co_return 2;
            // The blocking pool still gets its thread.
            auto job = [] { return 7; };
            const int v = co_await goro::blocking(job);
            if (goro::metrics().handoffs != 0 || goro::metrics().spare_threads != 0) co_return 4;
            co_return v == 7 ? 0 : 3;
        };
        goro::options o = one_proc(netpoll);
        o.max_threads = 2;
        return goro::run(main_task(), o);
    });
}

TEST_CASE("handoff: no deadlock report while a task runs on without a processor", "[handoff][deadlock]") {
    // Main waits on a channel that only the stuck task will send on, after
    // its processor was handed off and the processor went idle: every
    // processor is idle, yet the program is not deadlocked.
    on_each_driver_in_child([](const char* netpoll) {
        auto main_task = []() -> task<int> {
            goro::chan<int> ch;
            auto hog = [](goro::chan<int> c) -> task<void> {
                std::atomic<bool> mine{false};
                goro::go(set_flag(&mine));
                spin_until(mine);  // handed off
                // Let the processor go idle (main is blocked on the channel).
                std::this_thread::sleep_for(50ms);
                c.try_send(5);
                co_return;
            };
            goro::go(hog(ch));
            auto v = co_await ch.recv();
            co_return v && *v == 5 ? 0 : 1;
        };
        return goro::run(main_task(), one_proc(netpoll));
    });
}

TEST_CASE("handoff: a real deadlock is still reported with spare threads around", "[handoff][deadlock]") {
    for (const char* netpoll : k_netpolls) {
        DYNAMIC_SECTION(netpoll) {
            auto result = goro_test::run_in_child([netpoll] {
                auto main_task = []() -> task<int> {
                    auto hog = []() -> task<void> {
                        std::atomic<bool> mine{false};
                        goro::go(set_flag(&mine));
                        spin_until(mine);  // handed off: a spare thread exists from now on
                        co_return;
                    };
                    co_await goro::spawn(hog());
                    co_await goro::spawn(hog());
                    goro::chan<int> never;
                    co_await never.recv();  // nobody will ever send
                    co_return 0;
                };
                return goro::run(main_task(), one_proc(netpoll));
            });
            INFO(result.stderr_text);
            REQUIRE_FALSE(result.timed_out);
            REQUIRE(result.exit_status == 2);
            REQUIRE_THAT(result.stderr_text, Catch::Contains("all goroutines are asleep - deadlock!"));
        }
    }
}

TEST_CASE("handoff: GORO_DEBUG=handoff=0 turns it off", "[handoff]") {
    auto result = goro_test::run_in_child([] {
        ::setenv("GORO_DEBUG", "handoff=0", 1);
        auto main_task = []() -> task<int> {
            std::atomic<bool> ran{false};
            co_return co_await goro::spawn(compute_with_one_queued(&ran, 50ms));
        };
        return goro::run(main_task(), one_proc());
    });
    INFO(result.stderr_text);
    REQUIRE_FALSE(result.timed_out);
    REQUIRE(result.exit_status == 0);
}
