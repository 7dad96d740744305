// goro::group as Go's errgroup: WithContext (the group's context is cancelled
// at the first failure and when wait returns), SetLimit (at most n tasks run
// at once; goro queues the rest instead of blocking the caller) and TryGo.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <initializer_list>
#include <stdexcept>
#include <string>

#include <goro/goro.hpp>

#include "support/frame_token.hpp"

using namespace std::chrono_literals;

namespace {

using goro_test::frame_token;
using goro_test::live_frames;

goro::task<> fail_after(std::chrono::milliseconds d, const char* what) {
    co_await goro::sleep(d);
    throw std::runtime_error(what);
}

goro::task<> wait_for_cancel(goro::context ctx, std::atomic<int>& saw_cancel) {
    co_await ctx.done().recv();
    if (ctx.err() == goro::context_errc::canceled) saw_cancel.fetch_add(1);
}

goro::task<> counted(std::atomic<int>& active, std::atomic<int>& most, std::atomic<int>& ran, frame_token) {
    const int now = active.fetch_add(1) + 1;
    int seen = most.load();
    while (now > seen && !most.compare_exchange_weak(seen, now)) {
    }
    co_await goro::sleep(1ms);
    active.fetch_sub(1);
    ran.fetch_add(1);
}

goro::task<> park_forever(frame_token) { co_await goro::select(); }

// Runs main_task at each processor count: it must return 0 and leave no frame.
template <typename Main>
void require_zero_leaving_no_frame(Main& main_task, std::initializer_list<unsigned> procs) {
    for (unsigned n : procs) {
        INFO("procs " << n);
        REQUIRE(goro::run(main_task(), {.procs = n}) == 0);
        REQUIRE(live_frames() == 0);
    }
}

goro::task<> wait_release(goro::chan<int> release, std::atomic<int>& ran, frame_token) {
    (void)co_await release.recv();
    ran.fetch_add(1);
}

}  // namespace

TEST_CASE("group with a context: the first failure cancels it, wait rethrows that failure", "[task][group]") {
    auto main_task = []() -> goro::task<int> {
        goro::group g(goro::background());
        std::atomic<int> saw_cancel{0};
        for (int i = 0; i < 3; ++i) g.go(wait_for_cancel(g.ctx(), saw_cancel));
        g.go(fail_after(2ms, "first"));
        std::string caught;
        try {
            co_await g.wait();
        } catch (const std::runtime_error& e) {
            caught = e.what();
        }
        if (caught != "first") co_return 1;
        if (saw_cancel.load() != 3) co_return 2;  // every task saw the cancel and finished
        co_return g.ctx().err() == goro::context_errc::canceled ? 0 : 3;
    };
    REQUIRE(goro::run(main_task(), {.procs = 2}) == 0);
}

TEST_CASE("group with a context: wait returning cancels it, as Go's", "[task][group]") {
    auto main_task = []() -> goro::task<int> {
        auto [parent, cancel_parent] = goro::with_cancel(goro::background());
        goro::group g(parent);
        g.go([]() -> goro::task<> { co_return; }());
        if (g.ctx().err()) co_return 1;  // not before
        co_await g.wait();
        if (g.ctx().err() != goro::context_errc::canceled) co_return 2;
        if (parent.err()) co_return 3;  // the parent is left alone
        co_return 0;
    };
    REQUIRE(goro::run(main_task(), {.procs = 1}) == 0);
}

TEST_CASE("group limit: at most n run at once, the rest wait their turn and all run", "[task][group]") {
    for (unsigned procs : {1u, 2u}) {
        auto main_task = []() -> goro::task<int> {
            goro::group g;
            g.set_limit(2);
            std::atomic<int> active{0}, most{0}, ran{0};
            for (int i = 0; i < 10; ++i) g.go(counted(active, most, ran, frame_token{}));
            if (g.pending() != 10) co_return 1;
            co_await g.wait();
            if (ran.load() != 10) co_return 2;
            // Two run at once: each sleeps after counting itself in.
            co_return most.load() == 2 ? 0 : 100 + most.load();
        };
        INFO("procs = " << procs);
        REQUIRE(goro::run(main_task(), {.procs = procs}) == 0);
        REQUIRE(live_frames() == 0);
    }
}

TEST_CASE("group try_go starts a task only when the limit allows it", "[task][group]") {
    auto main_task = []() -> goro::task<int> {
        goro::group g;
        g.set_limit(1);
        goro::chan<int> release;
        if (!g.try_go([](goro::chan<int> r) -> goro::task<> { co_await r.recv(); }(release))) co_return 1;
        if (g.try_go(park_forever(frame_token{}))) co_return 2;  // full: dropped unrun
        if (live_frames() != 0) co_return 3;                   // ...and destroyed
        co_await release.send(1);
        co_await g.wait();
        if (!g.try_go([]() -> goro::task<> { co_return; }())) co_return 4;
        co_await g.wait();
        co_return 0;
    };
    REQUIRE(goro::run(main_task(), {.procs = 2}) == 0);
}

TEST_CASE("group set_limit while tasks run throws Go's message", "[task][group]") {
    auto main_task = []() -> goro::task<int> {
        goro::group g;
        goro::chan<int> release;
        g.go([](goro::chan<int> r) -> goro::task<> { co_await r.recv(); }(release));
        std::string message;
        try {
            g.set_limit(3);
        } catch (const goro::runtime_error& e) {
            message = e.what();
        }
        co_await release.send(1);
        co_await g.wait();
        g.set_limit(3);  // fine once none is active
        co_return message == "errgroup: modify limit while 1 goroutines in the group are still active" ? 0 : 1;
    };
    REQUIRE(goro::run(main_task(), {.procs = 1}) == 0);
}

TEST_CASE("group limit: a failure still lets the queued tasks run, and the first one is rethrown",
          "[task][group]") {
    auto main_task = []() -> goro::task<int> {
        goro::group g(goro::background());
        g.set_limit(1);
        std::atomic<int> active{0}, most{0}, ran{0};
        g.go(fail_after(1ms, "limited failure"));
        for (int i = 0; i < 4; ++i) g.go(counted(active, most, ran, frame_token{}));
        std::string caught;
        try {
            co_await g.wait();
        } catch (const std::runtime_error& e) {
            caught = e.what();
        }
        if (caught != "limited failure") co_return 1;
        if (ran.load() != 4 || most.load() != 1) co_return 2;
        co_return g.ctx().err() ? 0 : 3;
    };
    REQUIRE(goro::run(main_task(), {.procs = 2}) == 0);
    REQUIRE(live_frames() == 0);
}

TEST_CASE("group limit: tasks still queued when run() returns are destroyed unrun", "[task][group]") {
    auto main_task = []() -> goro::task<int> {
        auto* g = new goro::group;  // outlives main: its state dies with the last task
        g->set_limit(1);
        g->go(park_forever(frame_token{}));
        for (int i = 0; i < 3; ++i) g->go(park_forever(frame_token{}));
        co_await goro::yield();
        // The running task now holds the state alone; the queued frames belong
        // to the state (they hold no reference).
        delete g;
        co_return live_frames() == 4 ? 0 : 1;
    };
    REQUIRE(goro::run(main_task(), {.procs = 1}) == 0);
    REQUIRE(live_frames() == 0);  // the parked one destroyed by run(), the queued ones with the state
}

// The lock-free count (detail/group_state.hpp): tasks on every processor
// finish at once while several goroutines park in wait(); every waiter must
// be woken, and only once all tasks are done. Rounds reuse one group, so a
// wait also races with the next round's starts. Tasks start more tasks from
// inside the group, so the count keeps rising and falling while waiters park.
namespace {

goro::task<> leaf_member(std::atomic<int>& done, int yields, frame_token) {
    for (int i = 0; i < yields; ++i) co_await goro::yield();
    done.fetch_add(1, std::memory_order_relaxed);
}

goro::task<> spawning_member(goro::group* g, std::atomic<int>& done, int fanout, frame_token) {
    for (int i = 0; i < fanout; ++i) g->go(leaf_member(done, i % 3, frame_token{}));
    co_await goro::yield();
    done.fetch_add(1, std::memory_order_relaxed);
}

goro::task<> group_waiter(goro::group* g, std::atomic<int>& done, int expected, std::atomic<int>& woken_early,
                          goro::chan<int> out) {
    co_await g->wait();
    if (done.load(std::memory_order_relaxed) != expected || g->pending() != 0) woken_early.fetch_add(1);
    co_await out.send(1);
}

}  // namespace

TEST_CASE("group count without the lock: every waiter wakes after every task, at 2 and 4 processors",
          "[task][group]") {
    constexpr int k_rounds = 500, k_spawners = 40, k_fanout = 5, k_waiters = 3;
    constexpr int k_per_round = k_spawners * (1 + k_fanout);
    auto main_task = []() -> goro::task<int> {
        goro::group g;
        std::atomic<int> woken_early{0};
        for (int round = 0; round < k_rounds; ++round) {
            std::atomic<int> done{0};
            goro::chan<int> woke(k_waiters);
            for (int i = 0; i < k_spawners; ++i) g.go(spawning_member(&g, done, k_fanout, frame_token{}));
            // Not in the group: they wait on it from other processors.
            for (int w = 0; w < k_waiters; ++w) goro::go(group_waiter(&g, done, k_per_round, woken_early, woke));
            co_await g.wait();
            if (done.load() != k_per_round || g.pending() != 0) co_return 1;
            for (int w = 0; w < k_waiters; ++w) (void)co_await woke.recv();
        }
        co_return woken_early.load() == 0 ? 0 : 2;
    };
    require_zero_leaving_no_frame(main_task, {2u, 4u});
}

// Failures on every processor at once: exactly one of them is the group's
// error, the context is cancelled, and no task is lost from the count.
TEST_CASE("group count without the lock: concurrent failures, one error, every task counted", "[task][group]") {
    static std::atomic<int> finished{0};
    auto maybe_fail = [](int i, frame_token) -> goro::task<> {
        co_await goro::yield();
        finished.fetch_add(1);
        if (i % 7 == 3) throw std::runtime_error("failed " + std::to_string(i));
    };
    auto main_task = [&]() -> goro::task<int> {
        for (int round = 0; round < 50; ++round) {
            finished = 0;
            goro::group g(goro::background());
            for (int i = 0; i < 200; ++i) g.go(maybe_fail(i, frame_token{}));
            std::string error;
            try {
                co_await g.wait();
            } catch (const std::runtime_error& e) {
                error = e.what();
            }
            if (finished.load() != 200 || error.rfind("failed ", 0) != 0) co_return 1;
            if (g.ctx().err() != goro::context_errc::canceled) co_return 2;
        }
        co_return 0;
    };
    require_zero_leaving_no_frame(main_task, {2u, 4u});
}

// The mode switches of set_limit (no limit -> limit -> no limit) on one
// group, each after its tasks finished: counts and limits hold in each.
TEST_CASE("group set_limit switches between the lock-free and the limited count", "[task][group]") {
    auto main_task = []() -> goro::task<int> {
        goro::group g;
        std::atomic<int> active{0}, most{0}, ran{0};
        for (int i = 0; i < 30; ++i) g.go(counted(active, most, ran, frame_token{}));
        co_await g.wait();
        if (ran.load() != 30 || g.pending() != 0) co_return 1;
        g.set_limit(2);
        most = 0;
        goro::chan<int> release;
        for (int i = 0; i < 2; ++i) g.go(wait_release(release, ran, frame_token{}));  // the limit, held
        const bool dropped = !g.try_go(counted(active, most, ran, frame_token{}));
        for (int i = 0; i < 8; ++i) g.go(counted(active, most, ran, frame_token{}));  // queued
        if (g.pending() != 10) co_return 2;
        release.close();
        co_await g.wait();
        if (ran.load() != 40 || most.load() > 2 || !dropped) co_return 3;
        g.set_limit(-1);
        for (int i = 0; i < 20; ++i) g.go(counted(active, most, ran, frame_token{}));
        co_await g.wait();
        co_return ran.load() == 60 && g.pending() == 0 ? 0 : 4;
    };
    require_zero_leaving_no_frame(main_task, {1u, 4u});
}

// A limit of 0 queues every task (none is active, so the limit may change):
// raising it starts as many as it lets run, removing it starts them all.
// Without the release in set_limit, wait() never returns: the deadlock
// report ends the run with exit status 2.
TEST_CASE("group set_limit releases the tasks a limit of 0 queued", "[task][group]") {
    auto main_task = []() -> goro::task<int> {
        std::atomic<int> active{0}, most{0}, ran{0};
        goro::group raised;
        raised.set_limit(0);
        for (int i = 0; i < 6; ++i) raised.go(counted(active, most, ran, frame_token{}));
        if (raised.try_go(counted(active, most, ran, frame_token{}))) co_return 1;  // dropped at 0
        co_await goro::yield();
        // Queued, not goroutines: none can have run.
        if (ran.load() != 0 || raised.pending() != 6) co_return 2;
        raised.set_limit(2);
        co_await raised.wait();
        if (ran.load() != 6 || most.load() != 2) co_return 3;

        goro::group removed;
        removed.set_limit(0);
        for (int i = 0; i < 6; ++i) removed.go(counted(active, most, ran, frame_token{}));
        co_await goro::yield();
        if (ran.load() != 6) co_return 4;
        removed.set_limit(-1);
        co_await removed.wait();
        // Without a limit the tasks count themselves off without the lock.
        for (int i = 0; i < 4; ++i) removed.go(counted(active, most, ran, frame_token{}));
        co_await removed.wait();
        co_return ran.load() == 16 && removed.pending() == 0 ? 0 : 5;
    };
    require_zero_leaving_no_frame(main_task, {1u, 2u});
}

// The release's failure path: set_limit called outside a runtime, where
// no released task can start. Each one ends as a task that failed (counted
// off, its frame destroyed, its exception the group's first error), and
// each failure frees its place for the next queued one, which fails too.
TEST_CASE("group set_limit outside a runtime: released tasks that cannot start fail in turn", "[task][group]") {
    goro::group g;
    g.set_limit(0);
    for (int i = 0; i < 3; ++i) g.go(park_forever(frame_token{}));
    REQUIRE(g.pending() == 3);
    g.set_limit(1);
    REQUIRE(g.pending() == 0);
    REQUIRE(live_frames() == 0);
    auto main_task = [&g]() -> goro::task<int> {
        try {
            co_await g.wait();
        } catch (const goro::no_runtime&) {
            co_return 0;
        }
        co_return 1;
    };
    REQUIRE(goro::run(main_task(), {.procs = 1}) == 0);
}
