// goro::task, goro::go, goro::spawn, goro::group: values, exceptions, depth.
#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include <goro/goro.hpp>

#include "support/deque_fence_modes.hpp"
#include "support/watchdog.hpp"

using namespace std::chrono_literals;

namespace {

goro::task<int> value(int v) { co_return v; }

// Resumes `t` by hand on this thread (no runtime) until it first suspends or
// ends; rethrows what escaped it. Suspending is a failure here: every
// awaitable that needs a runtime must say so instead.
void goro_test_drive(goro::task<> t) {
    auto h = t.release();
    h.resume();
    const bool finished = h.done();
    std::exception_ptr error = h.promise().take_exception();
    h.destroy();
    if (error) std::rethrow_exception(error);
    if (!finished) throw std::logic_error("suspended outside a runtime");
}

goro::task<int> add(int a, int b) {
    int x = co_await value(a);
    int y = co_await value(b);
    co_return x + y;
}

goro::task<int> thrower() {
    throw std::runtime_error("boom");
    co_return 0;
}

goro::task<long> chain(int depth) {
    if (depth == 0) co_return 0;
    co_return 1 + co_await chain(depth - 1);
}

goro::task<std::string> move_only_result() {
    auto p = std::make_unique<std::string>("moved");
    co_return std::move(*p);
}

}  // namespace

TEST_CASE("run returns main's value", "[task]") {
    REQUIRE(goro::run(add(2, 40), {.procs = 1}) == 42);
    REQUIRE(goro::run(move_only_result(), {.procs = 2}) == "moved");
}

TEST_CASE("an exception in main is rethrown by run", "[task]") {
    REQUIRE_THROWS_WITH(goro::run(thrower(), {.procs = 1}), "boom");
}

TEST_CASE("exceptions propagate through nested awaits", "[task]") {
    auto main_task = []() -> goro::task<std::string> {
        try {
            co_await thrower();
        } catch (const std::runtime_error& e) {
            co_return std::string("caught ") + e.what();
        }
        co_return "not caught";
    };
    REQUIRE(goro::run(main_task(), {.procs = 1}) == "caught boom");
}

TEST_CASE("an await chain one million deep does not overflow the stack", "[task]") {
    // Symmetric transfer keeps the native stack flat in optimized builds. The
    // sanitizers' function entry/exit hooks turn the transfer's tail call into
    // a real call, so sanitizer builds check a 5,000-deep chain only: each
    // level then holds about 750 bytes of the 8 MiB stack under ASan, and
    // 10,000 levels needed 7.0-7.5 MiB (2026-11-30), too close to the limit.
    const int depth = goro_test::stress_divisor == 1 ? 1'000'000 : 5'000;
    REQUIRE(goro::run(chain(depth), {.procs = 1}) == depth);
}

TEST_CASE("spawn returns the value through the join handle", "[task]") {
    auto main_task = []() -> goro::task<long> {
        std::vector<goro::join_handle<int>> handles;
        for (int i = 0; i < 1000; ++i) handles.push_back(goro::spawn(value(i)));
        long sum = 0;
        for (auto& h : handles) sum += co_await std::move(h);
        co_return sum;
    };
    for (unsigned procs : {1u, 2u, 4u}) REQUIRE(goro::run(main_task(), {.procs = procs}) == 999L * 1000 / 2);
}

TEST_CASE("a spawned task's exception reaches whoever awaits the handle", "[task]") {
    auto main_task = []() -> goro::task<std::string> {
        auto h = goro::spawn(thrower());
        co_await goro::sleep(1ms);
        try {
            co_await std::move(h);
        } catch (const std::runtime_error& e) {
            co_return e.what();
        }
        co_return "no exception";
    };
    REQUIRE(goro::run(main_task(), {.procs = 2}) == "boom");
}

// A handle awaited while its task still sits, never started, at the bottom of
// the joiner's own deque is run in place (fork-join fast path, see go.hpp):
// on one processor a spawn followed at once by its join always takes it.
namespace {

goro::task<long> fork_join_fib(int n) {
    if (n < 2) co_return n;
    auto left = goro::spawn(fork_join_fib(n - 1));
    const long right = co_await fork_join_fib(n - 2);
    const long l = co_await std::move(left);
    co_return l + right;
}

goro::task<int> parks_then_returns(int v) {
    co_await goro::yield();
    co_await goro::sleep(1ms);
    co_return v;
}

}  // namespace

TEST_CASE("fork-join: spawn then join at once gives every value (joined in place)", "[task][join]") {
    auto main_task = []() -> goro::task<long> {
        const long v = co_await fork_join_fib(20);
        // Every joined goroutine finished: only main is left.
        co_return goro::num_goroutines() == 1 ? v : -1;
    };
    for (unsigned procs : {1u, 2u, 4u}) REQUIRE(goro::run(main_task(), {.procs = procs}) == 6765);
}

// Joins in spawn order at several processors: each join takes its child
// from under its younger siblings (work_deque::take) while the other
// processors steal from the same deque, in the deques' asymmetric mode
// (thieves fence with membarrier, owners do not) and with
// GORO_DEBUG=stealfence=0 (owners fence). Every task's value must arrive
// once: a child taken twice or lost breaks the sum or hangs the join.
namespace {

goro::task<long> fork_join_tree(long base, int depth) {
    if (depth == 0) co_return base;
    std::array<goro::join_handle<long>, 6> children;
    for (long i = 0; i < 6; ++i) children[i] = goro::spawn(fork_join_tree(base * 6 + i, depth - 1));
    long sum = 0;
    for (auto& child : children) sum += co_await std::move(child);
    co_return sum;
}

}  // namespace

TEST_CASE("fork-join stress: joins in spawn order race thieves, in both deque modes", "[task][join][stress]") {
    goro_test::watchdog dog("fork-join in spawn order", 300s);
    constexpr int depth = goro_test::stress_divisor == 1 ? 7 : 5;  // 6^7 = 279,936 leaves
    long leaves = 1;
    for (int i = 0; i < depth; ++i) leaves *= 6;
    const long expected = leaves * (leaves - 1) / 2;  // the leaves' bases are 0 .. leaves - 1
    auto main_task = []() -> goro::task<long> {
        const long v = co_await fork_join_tree(0, depth);
        co_return goro::num_goroutines() == 1 ? v : -1;
    };
    goro_test::for_each_deque_fence_mode([&](const std::string& mode) {
        for (unsigned procs : {2u, 4u}) {
            INFO("GORO_DEBUG=" << mode << ", procs " << procs);
            for (int round = 0; round < 3; ++round) REQUIRE(goro::run(main_task(), {.procs = procs}) == expected);
        }
    });
}

TEST_CASE("fork-join: a task joined in place may park and resume elsewhere", "[task][join]") {
    auto main_task = []() -> goro::task<long> {
        long sum = 0;
        for (int i = 0; i < 200; ++i) {
            auto h = goro::spawn(parks_then_returns(i));
            const int v = co_await std::move(h);
            sum += v;
        }
        co_return sum;
    };
    for (unsigned procs : {1u, 2u}) REQUIRE(goro::run(main_task(), {.procs = procs}) == 199L * 200 / 2);
}

TEST_CASE("fork-join: a task that ran, parked and was readied onto the joiner's deque is joined from where it parked",
          "[task][join]") {
    // One processor: the child runs first (the joiner waits on a channel it
    // closes), parks on a second channel; the joiner closes that one, which
    // readies the child onto this processor's deque (ready_local), and joins
    // it at once. The join must resume the child where it parked, not run
    // it in place from its start (it is not a child that never ran).
    auto main_task = []() -> goro::task<int> {
        goro::chan<int> started, go_on;
        std::atomic<int> runs{0};
        auto h = goro::spawn([&runs, started, go_on]() -> goro::task<int> {
            runs.fetch_add(1);
            started.close();
            auto v = co_await go_on.recv();  // closed: no value
            co_return v ? -1 : 42;
        });
        co_await started.recv();  // the child has run and parks next
        co_await goro::yield();   // it parks on go_on
        go_on.close();            // readies it onto this deque
        const int v = co_await std::move(h);
        co_return runs.load() == 1 ? v : -runs.load();
    };
    REQUIRE(goro::run(main_task(), {.procs = 1}) == 42);
}

TEST_CASE("fork-join: an exception of a task joined in place reaches the joiner", "[task][join]") {
    auto main_task = []() -> goro::task<std::string> {
        auto h = goro::spawn(thrower());
        try {
            co_await std::move(h);
        } catch (const std::runtime_error& e) {
            co_return e.what();
        }
        co_return "no exception";
    };
    REQUIRE(goro::run(main_task(), {.procs = 1}) == "boom");
}

TEST_CASE("fork-join: shutdown destroys a joiner and the task it runs in place", "[task][join]") {
    static std::atomic<int> destroyed{0};
    destroyed = 0;
    struct counted {
        counted() = default;
        counted(const counted&) = delete;
        ~counted() { destroyed.fetch_add(1); }
    };
    static std::atomic<bool> child_parked{false};
    child_parked = false;
    auto child = []() -> goro::task<int> {
        counted c;
        child_parked = true;
        co_await goro::sleep(1h);
        co_return 1;
    };
    auto parent = [child]() -> goro::task<> {
        counted c;
        auto h = goro::spawn(child());
        co_await std::move(h);  // runs the child in place; it parks for an hour
    };
    auto main_task = [parent]() -> goro::task<int> {
        goro::go(parent());
        while (!child_parked.load()) co_await goro::sleep(1ms);
        co_return 0;
    };
    REQUIRE(goro::run(main_task(), {.procs = 1}) == 0);
    REQUIRE(destroyed.load() == 2);
}

TEST_CASE("dropping a join handle detaches the task, which still runs", "[task]") {
    static std::atomic<int> ran{0};
    ran = 0;
    auto child = []() -> goro::task<int> {
        co_await goro::sleep(1ms);
        ran.fetch_add(1);
        co_return 1;
    };
    auto main_task = [&]() -> goro::task<int> {
        { auto h = goro::spawn(child()); }       // dropped before it finishes
        auto done = goro::spawn(value(5));
        co_await goro::sleep(1ms);
        { auto h2 = std::move(done); }          // dropped after it finished
        while (ran.load() == 0) co_await goro::sleep(1ms);
        co_return ran.load();
    };
    REQUIRE(goro::run(main_task(), {.procs = 2}) == 1);
}

TEST_CASE("group waits for every task and rethrows the first failure", "[task][group]") {
    static std::atomic<int> finished{0};
    finished = 0;
    auto worker = [](int i) -> goro::task<> {
        co_await goro::sleep(std::chrono::microseconds(100 * (i % 5)));
        finished.fetch_add(1);
        if (i == 7) throw std::runtime_error("worker 7 failed");
    };
    auto main_task = [&]() -> goro::task<std::string> {
        goro::group g;
        for (int i = 0; i < 20; ++i) g.go(worker(i));
        try {
            co_await g.wait();
        } catch (const std::runtime_error& e) {
            co_return std::string(e.what()) + " after " + std::to_string(finished.load());
        }
        co_return "no error";
    };
    REQUIRE(goro::run(main_task(), {.procs = 2}) == "worker 7 failed after 20");
}

// errgroup: the error that wait returns is the first one to happen, not the
// first task's: task 0 fails late, task 1 early; every task still finishes.
TEST_CASE("group rethrows the failure that happened first, after every task finished", "[task][group]") {
    static std::atomic<int> finished{0};
    static std::atomic<bool> early_failing{false};
    finished = 0;
    auto late = []() -> goro::task<> {
        while (!early_failing.load()) co_await goro::sleep(1ms);  // fails only after early did
        co_await goro::sleep(10ms);
        finished.fetch_add(1);
        throw std::runtime_error("late failure");
    };
    auto early = []() -> goro::task<> {
        co_await goro::sleep(1ms);
        finished.fetch_add(1);
        early_failing = true;
        throw std::runtime_error("early failure");
    };
    auto fine = []() -> goro::task<> {
        co_await goro::sleep(10ms);
        finished.fetch_add(1);
    };
    auto main_task = [&]() -> goro::task<std::string> {
        finished = 0;
        early_failing = false;
        goro::group g;
        g.go(late());
        g.go(early());
        g.go(fine());
        try {
            co_await g.wait();
        } catch (const std::runtime_error& e) {
            co_return std::string(e.what()) + " after " + std::to_string(finished.load());
        }
        co_return "no error";
    };
    for (unsigned procs : {1u, 2u}) REQUIRE(goro::run(main_task(), {.procs = procs}) == "early failure after 3");
}

TEST_CASE("group wait with no tasks completes at once", "[task][group]") {
    auto main_task = []() -> goro::task<int> {
        goro::group g;
        co_await g.wait();
        co_return 1;
    };
    REQUIRE(goro::run(main_task(), {.procs = 1}) == 1);
}

// A group task is its own goroutine (one frame, no wrapper) holding a
// reference to the group's state: the group still gets the first error and
// waits for every task, including tasks of other kinds of result, and a task
// may outlive its group object (its failure is then nobody's: not a panic).
TEST_CASE("group members report to the group and may outlive the group object", "[task][group]") {
    static std::atomic<int> finished{0};
    auto fails = []() -> goro::task<int> {
        co_await goro::sleep(1ms);
        finished.fetch_add(1);
        throw std::runtime_error("first");
    };
    auto fails_last = [](const goro::group* g, goro::chan<int> all_started) -> goro::task<std::string> {
        // Another processor may run this task before the others are started,
        // when pending() is still 1: wait until main has started them all.
        co_await all_started.recv();
        while (g->pending() > 1) co_await goro::yield();  // every other task has finished
        finished.fetch_add(1);
        throw std::runtime_error("second");
    };
    auto orphan = [](goro::chan<int> gate) -> goro::task<> {
        co_await gate.recv();
        finished.fetch_add(1);
        throw std::runtime_error("nobody hears this");
    };
    auto main_task = [&]() -> goro::task<std::string> {
        finished = 0;
        goro::group g;
        goro::chan<int> all_started;
        g.go(fails_last(&g, all_started));
        g.go(fails());
        for (int i = 0; i < 50; ++i) g.go(value(i));
        all_started.close();
        std::string got;
        try {
            co_await g.wait();
        } catch (const std::runtime_error& e) {
            got = e.what();
        }
        if (g.pending() != 0) co_return "pending after wait";
        try {
            co_await g.wait();  // again: the same first error
        } catch (const std::runtime_error& e) {
            got += std::string(" ") + e.what();
        }
        co_return got + " after " + std::to_string(finished.load());
    };
    auto outlived = [&]() -> goro::task<int> {
        finished = 0;
        goro::chan<int> gate;
        {
            goro::group g;
            for (int i = 0; i < 10; ++i) g.go(orphan(gate));
        }  // the group goes; its tasks keep its state alive
        gate.close();
        while (finished.load() < 10) co_await goro::sleep(1ms);
        co_return finished.load();
    };
    for (unsigned procs : {1u, 2u}) {
        INFO("procs " << procs);
        REQUIRE(goro::run(main_task(), {.procs = procs}) == "first first after 2");
        REQUIRE(goro::run(outlived(), {.procs = procs}) == 10);
    }
}

namespace {

std::atomic<int> g_destroyed{0};

struct count_destroyed {
    ~count_destroyed() { g_destroyed.fetch_add(1); }
};

// Counts itself in `started` once its guard exists: a member that never
// ran has nothing to destroy, so the test waits for every one to start.
goro::task<> stuck_member(goro::chan<int> never, std::atomic<int>* started) {
    count_destroyed guard;
    started->fetch_add(1);
    co_await never.recv();
}

goro::task<> stuck_group_waiter(goro::chan<int> never, std::atomic<int>* started) {
    count_destroyed guard;
    goro::group g;
    for (int i = 0; i < 20; ++i) g.go(stuck_member(never, started));
    co_await g.wait();  // never completes: destroyed at shutdown
    throw std::logic_error("woken at shutdown");
}

}  // namespace

// Runtime shutdown destroys group tasks that never finished, and a task
// parked in wait() on them: each destroyed task drops its reference to the
// group's state without waking anyone, and the last one frees it (ASan and
// LSan watch this under the sanitizer builds). Every member has started
// (and so holds a guard to destroy) before main returns: how soon they run
// is the scheduler's business, not this test's (under valgrind, some had
// not when main polled on a timer).
TEST_CASE("shutdown destroys unfinished group tasks and their waiter cleanly", "[task][group]") {
    auto main_task = [](bool group_outlives) -> goro::task<int> {
        goro::chan<int> never;
        std::atomic<int> started{0};
        goro::go(stuck_group_waiter(never, &started));
        while (started.load() < 20) co_await goro::sleep(1ms);
        if (group_outlives) {
            goro::group g;  // gone at co_return, before its tasks: they keep its state
            for (int i = 0; i < 20; ++i) g.go(stuck_member(never, &started));
            while (started.load() < 40) co_await goro::sleep(1ms);
        }
        co_return 7;
    };
    for (bool group_outlives : {false, true}) {
        g_destroyed = 0;
        REQUIRE(goro::run(main_task(group_outlives), {.procs = 2}) == 7);
        REQUIRE(g_destroyed.load() == (group_outlives ? 41 : 21));
    }
}

TEST_CASE("APIs that need a runtime fail clearly outside one", "[task]") {
    REQUIRE_THROWS_AS(goro::go(value(1)), goro::no_runtime);
    REQUIRE_THROWS_AS(goro::procs(), goro::no_runtime);
    REQUIRE_THROWS_AS(goro::num_goroutines(), goro::no_runtime);
    REQUIRE_THROWS_WITH(goro::go(value(1)), Catch::Contains("outside goro::run"));
    REQUIRE_THROWS_AS(goro::spawn(value(1)), goro::no_runtime);
    // Awaitables made outside a runtime fail when awaited there: drive them
    // from a coroutine resumed by hand on this (non-worker) thread.
    auto awaits = [](int which) -> goro::task<> {
        if (which == 0) co_await goro::yield();
        if (which == 1) co_await goro::sleep(1ms);
        if (which == 2) {
            goro::group g;
            co_await g.wait();  // an empty group completes without the runtime
            g.go(value(1));     // starting a task needs one
        }
    };
    for (int which = 0; which < 3; ++which) {
        INFO("case " << which);
        REQUIRE_THROWS_AS(goro_test_drive(awaits(which)), goro::no_runtime);
    }
}

TEST_CASE("item 84: go of an empty task is a runtime error (\"go of nil func value\")", "[task]") {
    auto main_task = []() -> goro::task<std::string> {
        try {
            goro::go(goro::task<>{});
        } catch (const goro::runtime_error& e) {
            co_return e.what();
        }
        co_return "";
    };
    REQUIRE(goro::run(main_task(), {.procs = 1}) == "go of nil func value");
}

TEST_CASE("impossible configurations are rejected at start-up", "[task]") {
    REQUIRE_THROWS_AS(goro::run(value(1), {.procs = 8, .max_threads = 4}), goro::bad_configuration);
    REQUIRE_THROWS_WITH(goro::run(value(1), {.procs = 8, .max_threads = 4}), Catch::Contains("max_threads"));
}

TEST_CASE("the version macros agree with meson.build's project version", "[task]") {
    REQUIRE(std::string(GORO_VERSION_STRING) == GORO_PROJECT_VERSION);
    REQUIRE(GORO_VERSION_NUMBER ==
            GORO_VERSION_MAJOR * 10000 + GORO_VERSION_MINOR * 100 + GORO_VERSION_PATCH);
}
