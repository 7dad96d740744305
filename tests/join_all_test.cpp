// goro::join_all: values in order, exceptions after every child finished,
// children that park or are stolen, dumps and shutdown in the middle of a
// batch (runtime/detail/join_batch.hpp).
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include <goro/goro.hpp>

#include "support/deque_fence_modes.hpp"
#include "support/frame_token.hpp"
#include "support/watchdog.hpp"

using namespace std::chrono_literals;
using goro_test::watchdog;

namespace {

goro::task<long> square(long v) { co_return v * v; }

// Runs main_task twice at 1, 2 and 4 processors; every run must return
// `expected`. `context` goes into the failure's INFO (a fence mode).
template <typename Main, typename V>
void require_at_1_2_4_procs(Main& main_task, const V& expected, const std::string& context = {}) {
    for (unsigned procs : {1u, 2u, 4u}) {
        INFO(context << "procs " << procs);
        for (int round = 0; round < 2; ++round) REQUIRE(goro::run(main_task(), {.procs = procs}) == expected);
    }
}

// A tree of fan-out 6 joined with join_all at every node: each leaf gives
// its base, so the root's value is the sum of 0 .. leaves - 1.
goro::task<long> join_all_tree(long base, int depth) {
    if (depth == 0) co_return base;
    std::array<goro::join_handle<long>, 6> children;
    for (long i = 0; i < 6; ++i) children[i] = goro::spawn(join_all_tree(base * 6 + i, depth - 1));
    const std::array<long, 6> values = co_await goro::join_all(std::move(children));
    long sum = 0;
    for (long v : values) sum += v;
    co_return sum;
}

// Sets its flag when destroyed: a frame that holds one was freed.
struct counts_destruction {
    std::atomic<int>* count;
    ~counts_destruction() { count->fetch_add(1); }
};

}  // namespace

TEST_CASE("join_all gives every value in the handles' order, and every child finished", "[join_all]") {
    auto main_task = []() -> goro::task<long> {
        std::array<goro::join_handle<long>, 10> fixed;
        for (long i = 0; i < 10; ++i) fixed[i] = goro::spawn(square(i));
        const std::array<long, 10> a = co_await goro::join_all(std::move(fixed));
        std::vector<goro::join_handle<long>> grown;
        for (long i = 0; i < 100; ++i) grown.push_back(goro::spawn(square(i)));
        const std::vector<long> v = co_await goro::join_all(std::move(grown));
        for (long i = 0; i < 10; ++i)
            if (a[i] != i * i) co_return -1;
        if (v.size() != 100) co_return -2;
        for (long i = 0; i < 100; ++i)
            if (v[i] != i * i) co_return -3;
        if (!grown.empty() || fixed[0]) co_return -4;  // the handles were taken over
        // Only main is left, and the counts add up (created = finished + live).
        const goro::runtime_metrics m = goro::metrics();
        if (goro::num_goroutines() != 1 || m.goroutines_created != m.goroutines_finished + 1) co_return -5;
        co_return a[9] + v[99];
    };
    for (unsigned procs : {1u, 2u, 4u}) {
        INFO("procs " << procs);
        REQUIRE(goro::run(main_task(), {.procs = procs}) == 81 + 99 * 99);
    }
}

TEST_CASE("join_all stress: trees of batches race thieves, in both deque modes", "[join_all][stress]") {
    watchdog dog("join_all trees", 300s);
    constexpr int depth = goro_test::stress_divisor == 1 ? 7 : 5;  // 6^7 = 279,936 leaves
    long leaves = 1;
    for (int i = 0; i < depth; ++i) leaves *= 6;
    const long expected = leaves * (leaves - 1) / 2;
    auto main_task = []() -> goro::task<long> {
        const long v = co_await join_all_tree(0, depth);
        co_return goro::num_goroutines() == 1 ? v : -1;
    };
    goro_test::for_each_deque_fence_mode(
        [&](const std::string& mode) { require_at_1_2_4_procs(main_task, expected, "GORO_DEBUG=" + mode + ", "); });
}

TEST_CASE("join_all of void handles, of none, of one, and of children already finished", "[join_all]") {
    auto main_task = []() -> goro::task<int> {
        std::atomic<int> ran{0};
        std::vector<goro::join_handle<void>> voids;
        for (int i = 0; i < 5; ++i) voids.push_back(goro::spawn([&ran] { ran.fetch_add(1); }));
        co_await goro::join_all(std::move(voids));
        if (ran.load() != 5) co_return -1;

        std::vector<goro::join_handle<long>> none;
        const std::vector<long> empty = co_await goro::join_all(std::move(none));
        if (!empty.empty()) co_return -2;
        std::array<goro::join_handle<long>, 0> zero;
        const std::array<long, 0> z = co_await goro::join_all(std::move(zero));
        (void)z;

        std::array<goro::join_handle<long>, 1> one{goro::spawn(square(7))};
        const std::array<long, 1> o = co_await goro::join_all(std::move(one));
        if (o[0] != 49) co_return -3;

        // Finished before the join: the sleep lets every processor run them.
        std::array<goro::join_handle<long>, 4> finished;
        for (long i = 0; i < 4; ++i) finished[i] = goro::spawn(square(i + 1));
        while (!(finished[0].done() && finished[1].done() && finished[2].done() && finished[3].done()))
            co_await goro::sleep(1ms);
        const std::array<long, 4> f = co_await goro::join_all(std::move(finished));
        co_return f[0] + f[1] + f[2] + f[3] == 1 + 4 + 9 + 16 ? 0 : -4;
    };
    for (unsigned procs : {1u, 2u}) REQUIRE(goro::run(main_task(), {.procs = procs}) == 0);
}

TEST_CASE("join_all with an empty handle throws and takes none of the others", "[join_all]") {
    auto main_task = []() -> goro::task<std::string> {
        std::array<goro::join_handle<long>, 3> handles;
        handles[0] = goro::spawn(square(2));
        handles[2] = goro::spawn(square(3));
        std::string what;
        try {
            auto all = goro::join_all(std::move(handles));
            (void)all;
        } catch (const goro::runtime_error& e) {
            what = e.what();
        }
        if (!handles[0] || !handles[2]) co_return "a handle was taken";
        const long a = co_await std::move(handles[0]);
        const long b = co_await std::move(handles[2]);
        co_return a + b == 13 ? what : "wrong values";
    };
    REQUIRE(goro::run(main_task(), {.procs = 1}) == "goro::join_all: an empty join_handle");
}

TEST_CASE("join_all rethrows the first exception in the handles' order, after every child finished",
          "[join_all]") {
    // Child 3 throws late, child 7 at once: 3's exception is the one, and
    // it arrives only once the slow children have finished too.
    auto main_task = []() -> goro::task<std::string> {
        std::atomic<int> finished{0};
        std::vector<goro::join_handle<int>> handles;
        for (int i = 0; i < 10; ++i) {
            handles.push_back(goro::spawn([&finished, i]() -> goro::task<int> {
                if (i == 3) {
                    co_await goro::sleep(5ms);
                    finished.fetch_add(1);
                    throw std::runtime_error("three");
                }
                if (i == 7) {
                    finished.fetch_add(1);
                    throw std::runtime_error("seven");
                }
                if (i % 2 == 0) co_await goro::sleep(2ms);
                finished.fetch_add(1);
                co_return i;
            }));
        }
        std::string what = "no exception";
        try {
            co_await goro::join_all(std::move(handles));
        } catch (const std::runtime_error& e) {
            what = e.what();
        }
        co_return what + " after " + std::to_string(finished.load());
    };
    for (unsigned procs : {1u, 2u}) {
        INFO("procs " << procs);
        REQUIRE(goro::run(main_task(), {.procs = procs}) == "three after 10");
    }
}

TEST_CASE("join_all: a child that parks waits for a sibling, whichever runs first", "[join_all]") {
    // Run newest first, child 9 parks on the channel until child 0 (run
    // last) meets it; then the other way round. Neither order may deadlock:
    // the siblings of a parked child still run.
    for (bool sender_last : {true, false}) {
        auto main_task = [sender_last]() -> goro::task<int> {
            goro::chan<int> c;
            std::vector<goro::join_handle<int>> handles;
            for (int i = 0; i < 10; ++i) {
                const bool sender = sender_last ? i == 9 : i == 0;
                const bool receiver = sender_last ? i == 0 : i == 9;
                handles.push_back(goro::spawn([c, sender, receiver, i]() -> goro::task<int> {
                    if (sender) co_await c.send(100);
                    if (receiver) {
                        auto v = co_await c.recv();
                        co_return *v;
                    }
                    co_return i;
                }));
            }
            const std::vector<int> v = co_await goro::join_all(std::move(handles));
            int sum = 0;
            for (int x : v) sum += x;
            co_return sum;
        };
        for (unsigned procs : {1u, 2u}) {
            INFO("sender last " << sender_last << ", procs " << procs);
            // 1 + ... + 8, the sender's 9 or 0, and the receiver's 100.
            const int expected = 36 + (sender_last ? 9 : 0) + 100;
            REQUIRE(goro::run(main_task(), {.procs = procs}) == expected);
        }
    }
}

TEST_CASE("join_all runs only its own children: work they leave on the deque is neither run as theirs nor lost",
          "[join_all]") {
    // Each child leaves a detached goroutine and an unjoined spawn on the
    // deque, above its older siblings. The batch must skip them, and they
    // must still run.
    auto main_task = []() -> goro::task<int> {
        goro::wait_group wg;
        std::atomic<int> extra{0};
        std::array<goro::join_handle<int>, 8> handles;
        for (int i = 0; i < 8; ++i) {
            wg.add(2);
            handles[i] = goro::spawn([&wg, &extra, i]() -> goro::task<int> {
                goro::go([&wg, &extra] {
                    extra.fetch_add(1);
                    wg.done();
                });
                auto dropped = goro::spawn([&wg, &extra] {
                    extra.fetch_add(1);
                    wg.done();
                });
                dropped.detach();
                co_return i;
            });
        }
        const std::array<int, 8> v = co_await goro::join_all(std::move(handles));
        co_await wg.wait();
        int sum = 0;
        for (int x : v) sum += x;
        co_return sum == 28 && extra.load() == 16 ? 0 : -1;
    };
    for (unsigned procs : {1u, 2u}) REQUIRE(goro::run(main_task(), {.procs = procs}) == 0);
}

TEST_CASE("join_all of a thousand children goes past the in-place cap", "[join_all]") {
    // The cap (k_max_in_place_runs) stops the in-place runs; the rest are
    // waited for. The stack stays bounded at -O0 and under the sanitizers.
    auto main_task = []() -> goro::task<long> {
        std::vector<goro::join_handle<long>> handles;
        for (long i = 0; i < 1000; ++i) handles.push_back(goro::spawn(square(i)));
        const std::vector<long> v = co_await goro::join_all(std::move(handles));
        long sum = 0;
        for (long i = 0; i < 1000; ++i) sum += v[i] == i * i ? 1 : 0;
        co_return sum;
    };
    for (unsigned procs : {1u, 2u}) REQUIRE(goro::run(main_task(), {.procs = procs}) == 1000);
}

TEST_CASE("join_all: a goroutine sent through the loop at the in-place cap is never taken as a child that never ran",
          "[join_all]") {
    // One processor. main's batch runs C1 in place, which parks on `gate`;
    // the loop then runs C0 as a goroutine of its own. C0's batch of 8,000
    // leaves passes the in-place cap again and again, and each time goes
    // through the loop readied into run-next. G, in the global queue, runs
    // at one of the loop's every-61-rounds looks there while C0 waits in
    // run-next, and sends on `gate`: main's record is readied into
    // run-next, which displaces C0 onto the deque. main's batch then meets C0 there.
    // C0 ran (it is suspended in its own join_all): it must be waited for,
    // not taken and started again.
    watchdog dog("a goroutine sent through the loop, then met by its parent's batch", 120s);
    auto main_task = []() -> goro::task<long> {
        goro::chan<int> gate;
        std::atomic<bool> armed{false};
        goro::go([gate, &armed]() -> goro::task<> {
            co_await goro::yield();  // into the global queue
            while (!armed.load()) co_await goro::yield();
            co_await gate.send(1);  // readies main's record into run-next
        });
        co_await goro::yield();  // G runs, and yields into the global queue
        std::array<goro::join_handle<long>, 2> handles;
        handles[0] = goro::spawn([&armed]() -> goro::task<long> {
            std::vector<goro::join_handle<long>> leaves;
            for (long i = 0; i < 8000; ++i) {
                leaves.push_back(goro::spawn([&armed, i]() -> goro::task<long> {
                    if (i == 7000) armed.store(true);  // past the first cap
                    co_return i;
                }));
            }
            long sum = 0;
            for (long v : co_await goro::join_all(std::move(leaves))) sum += v;
            co_return sum;
        });
        handles[1] = goro::spawn([gate]() -> goro::task<long> {
            auto v = co_await gate.recv();
            co_return *v;
        });
        const std::array<long, 2> v = co_await goro::join_all(std::move(handles));
        co_return v[0] + v[1];
    };
    for (int round = 0; round < 3; ++round) REQUIRE(goro::run(main_task(), {.procs = 1}) == 7999L * 8000 / 2 + 1);
}

TEST_CASE("two join_alls in one expression (g++ may suspend for the second before the first's await_resume)",
          "[join_all]") {
    auto main_task = []() -> goro::task<long> {
        std::array<goro::join_handle<long>, 3> a{goro::spawn(square(1)), goro::spawn(square(2)), goro::spawn(square(3))};
        std::array<goro::join_handle<long>, 2> b{goro::spawn(square(4)), goro::spawn(square(5))};
        const long sum = (co_await goro::join_all(std::move(a)))[2] + (co_await goro::join_all(std::move(b)))[1];
        co_return sum;
    };
    for (unsigned procs : {1u, 2u}) REQUIRE(goro::run(main_task(), {.procs = procs}) == 9 + 25);
}

TEST_CASE("a join_all never awaited lets its children run on, detached", "[join_all]") {
    auto main_task = []() -> goro::task<int> {
        goro::wait_group wg;
        std::atomic<int> ran{0};
        {
            std::vector<goro::join_handle<void>> handles;
            for (int i = 0; i < 4; ++i) {
                wg.add(1);
                handles.push_back(goro::spawn([&wg, &ran] {
                    ran.fetch_add(1);
                    wg.done();
                }));
            }
            auto all = goro::join_all(std::move(handles));
            (void)all;
        }
        co_await wg.wait();
        co_return ran.load();
    };
    for (unsigned procs : {1u, 2u}) REQUIRE(goro::run(main_task(), {.procs = procs}) == 4);
}

TEST_CASE("a dump during a join_all lists every child once: the one in place waits, the rest are runnable",
          "[join_all][dump]") {
    // One processor: main spawns three children and a lister, and joins the
    // children. Child 2 (run first, in place, from under the lister) blocks
    // on a channel, which parks main's record; the loop then runs the
    // lister, the newest item, which lists the goroutines and unblocks
    // child 2.
    watchdog dog("a dump during a join_all", 60s);
    std::vector<goro::goroutine_record> records;
    int got = 0;
    goro::run(
        [&]() -> goro::task<> {
            goro::chan<int> c;
            std::array<goro::join_handle<int>, 3> handles;
            handles[0] = goro::spawn([] { return 1; });
            handles[1] = goro::spawn([] { return 2; });
            handles[2] = goro::spawn([c]() -> goro::task<int> {
                auto v = co_await c.recv();
                co_return *v;
            });
            goro::go([&records, c]() -> goro::task<> {
                records = goro::goroutines();
                co_await c.send(5);
            });
            const std::array<int, 3> v = co_await goro::join_all(std::move(handles));
            got = v[0] + v[1] + v[2];
        }(),
        {.procs = 1});
    CHECK(got == 8);
    std::string listed;
    for (const auto& r : records) listed += std::to_string(r.id) + " [" + r.state + "] ";
    INFO(listed);
    std::sort(records.begin(), records.end(), [](const auto& x, const auto& y) { return x.id < y.id; });
    // Each once, by id in spawn order: main (parked for the child it runs
    // in place), children 0 and 1 (still on the deque), child 2 (in place,
    // on the channel) and the lister.
    REQUIRE(records.size() == 5);
    CHECK(records[0].main);
    CHECK(records[0].state == "join");
    CHECK(records[1].state == "runnable");
    CHECK(records[2].state == "runnable");
    CHECK(records[3].state == "chan receive");
    CHECK(records[4].state == "running");
}

TEST_CASE("shutdown frees a join_all's children: one parked in place, one waited for, the rest finished",
          "[join_all][shutdown]") {
    // A detached task joins four children. Child 3 runs in place and parks
    // forever; run again with child 0 parked forever instead, which the
    // batch reaches last (then waited for, or in place). Shutdown destroys
    // the detached task, which frees every child frame with it exactly once
    // (sanitizer builds see a leak or a double free).
    for (int forever : {3, 0}) {
        watchdog dog("a join_all at shutdown", 60s);
        std::atomic<int> freed{0};
        std::atomic<bool> parked{false};
        goro::run(
            [&freed, &parked, forever]() -> goro::task<> {
                goro::go([&freed, &parked, forever]() -> goro::task<> {
                    std::array<goro::join_handle<int>, 4> handles;
                    for (int i = 0; i < 4; ++i) {
                        handles[i] = goro::spawn([&freed, &parked, forever, i]() -> goro::task<int> {
                            counts_destruction guard{&freed};
                            if (i == forever) {
                                goro::chan<int> never;
                                parked.store(true);
                                co_await never.recv();
                            }
                            co_return i;
                        });
                    }
                    co_await goro::join_all(std::move(handles));
                });
                while (!parked.load()) co_await goro::sleep(1ms);
            }(),
            {.procs = 1});
        INFO("parked forever: child " << forever);
        CHECK(freed.load() == 4);
    }
}

// ---- join_all over tasks, and spawn_all ----

namespace {

// join_all_tree with the children started by join_all itself.
goro::task<long> join_all_tasks_tree(long base, int depth) {
    if (depth == 0) co_return base;
    std::array<goro::task<long>, 6> tasks;
    for (long i = 0; i < 6; ++i) tasks[i] = join_all_tasks_tree(base * 6 + i, depth - 1);
    long sum = 0;
    for (long v : co_await goro::join_all(std::move(tasks))) sum += v;
    co_return sum;
}

// Counts its runs; its frame counts among goro_test::live_frames() until
// it is destroyed, run or not.
goro::task<long> counted_square(long v, std::atomic<int>* ran, goro_test::frame_token) {
    ran->fetch_add(1);
    co_return v * v;
}

}  // namespace

TEST_CASE("join_all over tasks starts them and gives every value in order; spawn_all gives handles in order",
          "[join_all]") {
    auto checked = []() -> goro::task<long> {
        std::array<goro::task<long>, 10> fixed;
        for (long i = 0; i < 10; ++i) fixed[i] = square(i);
        const std::array<long, 10> a = co_await goro::join_all(std::move(fixed));
        std::vector<goro::task<long>> grown;
        for (long i = 0; i < 100; ++i) grown.push_back(square(i));
        const std::vector<long> v = co_await goro::join_all(std::move(grown));
        std::vector<goro::task<long>> more;
        for (long i = 0; i < 5; ++i) more.push_back(square(i + 10));
        std::vector<goro::join_handle<long>> handles = goro::spawn_all(std::move(more));
        if (handles.size() != 5) co_return -1;
        const long first = co_await std::move(handles[0]);
        handles.erase(handles.begin());
        const std::vector<long> others = co_await goro::join_all(std::move(handles));
        for (long i = 0; i < 10; ++i)
            if (a[i] != i * i) co_return -2;
        for (long i = 0; i < 100; ++i)
            if (v[i] != i * i) co_return -3;
        if (first != 100 || others.size() != 4 || others[0] != 121 || others[3] != 196) co_return -4;
        if (goro::num_goroutines() != 1) co_return -5;
        co_return 0;
    };
    for (unsigned procs : {1u, 2u, 4u}) {
        INFO("procs " << procs);
        REQUIRE(goro::run(checked(), {.procs = procs}) == 0);
    }
}

TEST_CASE("join_all over tasks: trees race thieves", "[join_all][stress]") {
    watchdog dog("join_all over tasks, trees", 300s);
    constexpr int depth = goro_test::stress_divisor == 1 ? 7 : 5;
    long leaves = 1;
    for (int i = 0; i < depth; ++i) leaves *= 6;
    const long expected = leaves * (leaves - 1) / 2;
    auto main_task = []() -> goro::task<long> {
        const long v = co_await join_all_tasks_tree(0, depth);
        co_return goro::num_goroutines() == 1 ? v : -1;
    };
    require_at_1_2_4_procs(main_task, expected);
}

TEST_CASE("join_all over tasks or spawn_all with an empty task throws and runs none; "
          "a join_all over tasks never awaited runs none",
          "[join_all]") {
    auto main_task = []() -> goro::task<std::string> {
        std::atomic<int> ran{0};
        const long frames_before = goro_test::live_frames();
        std::string what;
        {
            std::array<goro::task<long>, 3> tasks{counted_square(1, &ran, goro_test::frame_token{}), goro::task<long>{},
                                                   counted_square(3, &ran, goro_test::frame_token{})};
            try {
                auto all = goro::join_all(std::move(tasks));
                (void)all;
            } catch (const goro::runtime_error& e) {
                what = e.what();
            }
        }
        {
            std::vector<goro::task<long>> tasks;
            tasks.push_back(counted_square(1, &ran, goro_test::frame_token{}));
            tasks.emplace_back();
            try {
                auto handles = goro::spawn_all(std::move(tasks));
                (void)handles;
            } catch (const goro::runtime_error& e) {
                what += std::string(" / ") + e.what();
            }
        }
        {
            std::array<goro::task<long>, 2> tasks{counted_square(1, &ran, goro_test::frame_token{}), counted_square(2, &ran, goro_test::frame_token{})};
            auto never = goro::join_all(std::move(tasks));
            (void)never;
        }
        co_await goro::sleep(1ms);
        co_return what + " / ran " + std::to_string(ran.load()) + " frames left " +
            std::to_string(goro_test::live_frames() - frames_before);
    };
    for (unsigned procs : {1u, 2u})
        REQUIRE(goro::run(main_task(), {.procs = procs}) ==
                "go of nil func value / go of nil func value / ran 0 frames left 0");
}

TEST_CASE("join_all over tasks rethrows the first exception in order after all finished", "[join_all]") {
    auto main_task = []() -> goro::task<std::string> {
        std::atomic<int> finished{0};
        auto child = [](int i, std::atomic<int>* done) -> goro::task<int> {
            if (i == 1) {
                co_await goro::sleep(3ms);
                done->fetch_add(1);
                throw std::runtime_error("one");
            }
            if (i == 3) {
                done->fetch_add(1);
                throw std::runtime_error("three");
            }
            done->fetch_add(1);
            co_return i;
        };
        std::vector<goro::task<int>> tasks;
        for (int i = 0; i < 5; ++i) tasks.push_back(child(i, &finished));
        std::string what = "no exception";
        try {
            co_await goro::join_all(std::move(tasks));
        } catch (const std::runtime_error& e) {
            what = e.what();
        }
        co_return what + " after " + std::to_string(finished.load());
    };
    for (unsigned procs : {1u, 2u}) REQUIRE(goro::run(main_task(), {.procs = procs}) == "one after 5");
}

// ---- join_all(tasks, count): the first count tasks of an array ----

namespace {

// The queens of nqueens_tree<N>: whether a queen at (row, col) is safe from
// those of rows 0 to row - 1 (a plain function: see the suite's nqueens).
template <int N>
bool queen_safe(const std::array<char, N>& b, int row, int col) {
    for (int r = 0; r < row; ++r) {
        const int placed = b[r];
        if (col == placed || col == placed - (row - r) || col == placed + (row - r)) return false;
    }
    return true;
}

// The placements of N queens, a goroutine per partial board, each node
// joining its 0 to N children (one per safe column, a count known only at
// run time) with join_all(tasks, count), as benchmarks/suite/nqueens.cpp
// built with SUITE_JOIN_ALL.
template <int N>
goro::task<long> nqueens_tree(int row, std::array<char, N> b) {
    if (row == N) co_return 1;
    std::array<goro::task<long>, N> tasks;
    std::size_t made = 0;
    for (int col = 0; col < N; ++col) {
        if (!queen_safe<N>(b, row, col)) continue;
        b[row] = static_cast<char>(col);
        tasks[made++] = nqueens_tree<N>(row + 1, b);
    }
    const std::array<long, N> values = co_await goro::join_all(std::move(tasks), made);
    long count = 0;
    for (std::size_t i = 0; i < made; ++i) count += values[i];
    for (std::size_t i = made; i < values.size(); ++i)
        if (values[i] != 0) co_return -1000000;  // past count: value-initialized
    co_return count;
}

goro::task<void> counted_void(std::atomic<int>* ran, goro_test::frame_token) {
    ran->fetch_add(1);
    co_return;
}

// Throws `what` (after a sleep when `late`) or gives i; counts its end.
goro::task<int> maybe_throws(int i, const char* what, bool late, std::atomic<int>* done) {
    if (late) co_await goro::sleep(3ms);
    done->fetch_add(1);
    if (what) throw std::runtime_error(what);
    co_return i;
}

}  // namespace

TEST_CASE("join_all(tasks, count) starts the first count, gives their values in order, and leaves the rest",
          "[join_all]") {
    auto main_task = []() -> goro::task<long> {
        std::atomic<int> ran{0};
        const long frames_before = goro_test::live_frames();
        std::array<goro::task<long>, 10> tasks;
        for (long i = 0; i < 10; ++i) tasks[i] = counted_square(i, &ran, goro_test::frame_token{});
        const std::array<long, 10> v = co_await goro::join_all(std::move(tasks), 7);
        for (long i = 0; i < 7; ++i)
            if (v[i] != i * i || tasks[i]) co_return -1;  // taken over, and their values in order
        for (long i = 7; i < 10; ++i)
            if (v[i] != 0 || !tasks[i]) co_return -2;  // untouched, and value-initialized
        if (ran.load() != 7 || goro::num_goroutines() != 1) co_return -3;
        for (auto& t : tasks) t = goro::task<long>{};  // the three left: freed unrun
        if (ran.load() != 7 || goro_test::live_frames() != frames_before) co_return -4;
        // Its full count: the same as join_all(tasks).
        std::array<goro::task<long>, 4> all{square(1), square(2), square(3), square(4)};
        const std::array<long, 4> a = co_await goro::join_all(std::move(all), 4);
        co_return a[0] + a[1] + a[2] + a[3] + v[6];
    };
    for (unsigned procs : {1u, 2u, 4u}) {
        INFO("procs " << procs);
        REQUIRE(goro::run(main_task(), {.procs = procs}) == 30 + 36);
    }
}

TEST_CASE("join_all(tasks, count) stress: nqueens trees, fan-outs from 0 to N, race thieves in both deque modes",
          "[join_all][stress]") {
    watchdog dog("join_all(tasks, count), nqueens trees", 300s);
    const long more = goro_test::stress_divisor == 1 ? 2'680 : 352;
    auto main_task = []() -> goro::task<long> {
        // 8 queens: 2,057 nodes; then 11 queens, 166,926 (9 queens, 8,394,
        // under the sanitizers).
        const long v8 = co_await nqueens_tree<8>(0, std::array<char, 8>{});
        long more = 0;
        if constexpr (goro_test::stress_divisor == 1)
            more = co_await nqueens_tree<11>(0, std::array<char, 11>{});
        else
            more = co_await nqueens_tree<9>(0, std::array<char, 9>{});
        co_return goro::num_goroutines() == 1 ? v8 * 10000 + more : -1;
    };
    goro_test::for_each_deque_fence_mode([&](const std::string& mode) {
        require_at_1_2_4_procs(main_task, 92 * 10000 + more, "GORO_DEBUG=" + mode + ", ");
    });
}

TEST_CASE("join_all(tasks, count) of none, of one, of void tasks; a count above the size or an empty task among "
          "the first count throws and takes none",
          "[join_all]") {
    auto main_task = []() -> goro::task<std::string> {
        std::atomic<int> ran{0};
        const long frames_before = goro_test::live_frames();
        std::string log;
        {
            // None: no suspension, nothing started; the tasks stay.
            std::array<goro::task<long>, 3> tasks{counted_square(1, &ran, goro_test::frame_token{}),
                                                  counted_square(2, &ran, goro_test::frame_token{}), goro::task<long>{}};
            const std::array<long, 3> none = co_await goro::join_all(std::move(tasks), 0);
            log += "none " + std::to_string(none[0] + none[1] + none[2]) + (tasks[0] && tasks[1] ? " kept" : " taken");
            // One, of an array of one and of three (an empty task past count is fine).
            const std::array<long, 3> one = co_await goro::join_all(std::move(tasks), 1);
            std::array<goro::task<long>, 1> single{square(9)};
            const std::array<long, 1> only = co_await goro::join_all(std::move(single), 1);
            log += " / one " + std::to_string(one[0]) + " " + std::to_string(only[0]);
        }
        {
            std::array<goro::task<void>, 5> voids;
            for (auto& t : voids) t = counted_void(&ran, goro_test::frame_token{});
            co_await goro::join_all(std::move(voids), 3);
            log += " / void ran " + std::to_string(ran.load());
        }
        {
            std::array<goro::task<long>, 3> tasks{counted_square(1, &ran, goro_test::frame_token{}), goro::task<long>{},
                                                  counted_square(3, &ran, goro_test::frame_token{})};
            try {
                auto all = goro::join_all(std::move(tasks), 2);
                (void)all;
            } catch (const goro::runtime_error& e) {
                log += std::string(" / ") + e.what();
            }
            try {
                auto all = goro::join_all(std::move(tasks), 4);
                (void)all;
            } catch (const goro::runtime_error& e) {
                log += std::string(" / ") + e.what();
            }
            log += tasks[0] && tasks[2] ? " / kept" : " / taken";
        }
        co_await goro::sleep(1ms);
        co_return log + " / ran " + std::to_string(ran.load()) + " frames left " +
            std::to_string(goro_test::live_frames() - frames_before);
    };
    for (unsigned procs : {1u, 2u}) {
        INFO("procs " << procs);
        REQUIRE(goro::run(main_task(), {.procs = procs}) ==
                "none 0 kept / one 1 81 / void ran 4 / go of nil func value / "
                "goro::join_all: a count above the array's size / kept / ran 4 frames left 0");
    }
}

TEST_CASE("join_all(tasks, count) rethrows the first exception in order after all finished; "
          "one never awaited frees every frame and runs none",
          "[join_all]") {
    auto main_task = []() -> goro::task<std::string> {
        std::atomic<int> finished{0};
        std::array<goro::task<int>, 8> tasks;
        for (int i = 0; i < 6; ++i) {
            const char* what = i == 1 ? "one" : i == 4 ? "four" : i == 5 ? "five" : nullptr;
            tasks[i] = maybe_throws(i, what, i == 1 || i == 2, &finished);
        }
        std::string what = "no exception";
        try {
            co_await goro::join_all(std::move(tasks), 6);
        } catch (const std::runtime_error& e) {
            what = e.what();
        }
        what += " after " + std::to_string(finished.load());

        std::atomic<int> ran{0};
        const long frames_before = goro_test::live_frames();
        {
            std::array<goro::task<long>, 4> never;
            for (long i = 0; i < 4; ++i) never[i] = counted_square(i, &ran, goro_test::frame_token{});
            auto all = goro::join_all(std::move(never), 3);
            (void)all;
        }
        co_await goro::sleep(1ms);
        co_return what + " / ran " + std::to_string(ran.load()) + " frames left " +
            std::to_string(goro_test::live_frames() - frames_before);
    };
    for (unsigned procs : {1u, 2u}) {
        INFO("procs " << procs);
        REQUIRE(goro::run(main_task(), {.procs = procs}) == "one after 6 / ran 0 frames left 0");
    }
}

namespace {

// Parks forever (after setting `parked`) when `forever`, else gives i; its
// frame counts in `freed` when destroyed after it started, and among
// goro_test::live_frames() until destroyed, run or not.
goro::task<int> parks_or_returns(int i, bool forever, std::atomic<int>* freed, std::atomic<bool>* parked,
                                 goro_test::frame_token = {}) {
    counts_destruction guard{freed};
    if (forever) {
        goro::chan<int> never;
        parked->store(true);
        co_await never.recv();
    }
    co_return i;
}

// A join_all of one child, over a handle or a task (the first of two, count
// 1); the child parks forever in place.
goro::task<> joins_one(int form, std::atomic<int>* freed, std::atomic<bool>* parked) {
    if (form == 0) {
        std::array<goro::join_handle<int>, 1> handles{goro::spawn(parks_or_returns(0, true, freed, parked))};
        co_await goro::join_all(std::move(handles));
    } else if (form == 1) {
        std::array<goro::task<int>, 1> tasks{parks_or_returns(0, true, freed, parked)};
        co_await goro::join_all(std::move(tasks));
    } else {
        std::array<goro::task<int>, 2> tasks{parks_or_returns(0, true, freed, parked),
                                             parks_or_returns(1, false, freed, parked)};
        co_await goro::join_all(std::move(tasks), 1);
    }
}

goro::task<> waits_for(std::atomic<bool>* parked) {
    while (!parked->load()) co_await goro::sleep(1ms);
}

}  // namespace

TEST_CASE("shutdown frees a one-child join_all's child parked in place, once (handle, task, task and count)",
          "[join_all][shutdown]") {
    // A join_all of one child joins it as a join_handle does (run_in_place,
    // whose child's frame_link is the joiner): destroyed at shutdown, the
    // awaiter must free the child's own frame exactly once (sanitizer
    // builds see a leak, a double free or the joiner freed twice).
    for (int form : {0, 1, 2}) {
        watchdog dog("a one-child join_all at shutdown", 60s);
        const long frames_before = goro_test::live_frames();
        std::atomic<int> freed{0};
        std::atomic<bool> parked{false};
        goro::run(
            [](int f, std::atomic<int>* fr, std::atomic<bool>* pk) -> goro::task<> {
                goro::go(joins_one(f, fr, pk));
                co_await waits_for(pk);
            }(form, &freed, &parked),
            {.procs = 1});
        INFO("form " << form);
        CHECK(freed.load() == 1);
        CHECK(goro_test::live_frames() == frames_before);  // form 2: the task past count too, unrun
    }
}
