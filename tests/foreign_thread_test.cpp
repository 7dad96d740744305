// Threads that are not goro's calling into a runtime while goro::run returns
// (runtime/detail/foreign_entry.hpp): no use-after-free, no lost or leaked
// task, and goro::no_runtime once the runtime has closed. Run it under ASan
// and TSan: before the entry protocol, a release build crashed in a quarter
// of the runs and ASan reported a heap-use-after-free in the registry.
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>
#include <vector>

#include <goro/goro.hpp>

#include "support/frame_token.hpp"
#include "support/watchdog.hpp"

using namespace std::chrono_literals;

namespace {

using goro_test::frame_token;
using goro_test::live_frames;

goro::task<> noop(frame_token) { co_return; }

goro::task<> receive_forever(goro::chan<int> c, frame_token) {
    for (;;) {
        // (Not `while (co_await c.recv()) {}`: g++ 12 miscompiles the
        // destruction of a frame suspended in a loop condition: SIGILL.)
        std::optional<int> v = co_await c.recv();
        if (!v) break;
    }
}

goro::task<> wait_done(goro::context ctx, frame_token) { co_await ctx.done().recv(); }

}  // namespace

TEST_CASE("foreign threads keep calling goro while run() returns", "[sched][foreign][stress]") {
    const int rounds = 200 / goro_test::stress_divisor;
    long started_outside = 0, refused = 0;
    for (int round = 0; round < rounds; ++round) {
        goro::chan<int> values;  // unbuffered: every successful try_send wakes a parked receiver
        auto [ctx, cancel] = goro::with_cancel(goro::background());
        std::atomic<bool> stop{false};
        std::atomic<bool> inside{false};
        std::atomic<bool> run_returned{false};
        std::atomic<bool> refused_after_run{false};
        std::atomic<long> started{0}, no_runtime{0};
        std::thread outsider([&, ctx = ctx, cancel = cancel] {
            while (!stop.load()) {
                try {
                    goro::go(noop(frame_token{}));
                    started.fetch_add(1);
                } catch (const goro::no_runtime&) {
                    no_runtime.fetch_add(1);
                    if (run_returned.load()) refused_after_run.store(true);
                }
                (void)values.try_send(1);
                (void)values.try_recv();
                try {
                    (void)goro::num_goroutines();
                } catch (const goro::no_runtime&) {
                }
                if (inside.load()) cancel();  // wakes every wait_done task, maybe mid-shutdown
            }
        });
        auto main_task = [&]() -> goro::task<> {
            for (int i = 0; i < 8; ++i) goro::go(receive_forever(values, frame_token{}));
            for (int i = 0; i < 8; ++i) goro::go(wait_done(ctx, frame_token{}));
            inside.store(true);
            // Return only once the outsider has started a task in this run,
            // at a varying point of its loop.
            while (started.load() == 0) co_await goro::sleep(20us);
            co_await goro::sleep(std::chrono::microseconds(37 * (round % 20)));
        };
        goro::run(main_task(), {.procs = 2});
        // The outsider goes on against no runtime at all, until it was refused.
        run_returned.store(true);
        while (!refused_after_run.load()) std::this_thread::yield();
        stop.store(true);
        outsider.join();
        // Every frame is gone: run, destroyed at shutdown, or destroyed by
        // goro::go when it refused to start it. None leaked, none twice.
        REQUIRE(live_frames() == 0);
        started_outside += started.load();
        refused += no_runtime.load();
    }
    // Both sides were reached in every round (the loop waits for them).
    CHECK(started_outside >= rounds);
    CHECK(refused >= rounds);
}

TEST_CASE("after run() returns, goro::go from another thread is no_runtime and frees the task",
          "[sched][foreign]") {
    goro::run([]() -> goro::task<> { co_return; }(), {.procs = 1});
    std::thread t([] {
        REQUIRE_THROWS_AS(goro::go(noop(frame_token{})), goro::no_runtime);
        REQUIRE_THROWS_AS(goro::num_goroutines(), goro::no_runtime);
    });
    t.join();
    REQUIRE(live_frames() == 0);
}

TEST_CASE("a task started from another thread runs, and its wake-ups arrive", "[sched][foreign]") {
    goro::chan<int> from_outside{1};
    goro::chan<int> results;
    auto main_task = [&]() -> goro::task<int> {
        std::thread t([&] {
            goro::go([](goro::chan<int> in, goro::chan<int> out) -> goro::task<> {
                auto v = co_await in.recv();
                co_await out.send(*v * 2);
            }(from_outside, results));
            while (!from_outside.try_send(21)) std::this_thread::yield();
        });
        auto v = co_await results.recv();
        t.join();
        co_return *v;
    };
    // Woken by a thread the runtime does not know: no deadlock detection.
    REQUIRE(goro::run(main_task(), {.procs = 2, .detect_deadlock = false}) == 42);
}
