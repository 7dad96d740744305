// goro::fj::all: values in order, exceptions after every child finished,
// children that park, promotion to goroutines when a processor wants work,
// and shutdown in the middle of a region (runtime/detail/fork_join_region.hpp).
#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <list>
#include <stdexcept>
#include <string>
#include <thread>
#include <memory>
#include <ranges>
#include <tuple>
#include <vector>

#include <goro/goro.hpp>

#include "support/child_process.hpp"
#include "support/error_of.hpp"
#include "support/frame_token.hpp"
#include "support/watchdog.hpp"

using namespace std::chrono_literals;
using goro_test::watchdog;

namespace {

goro::task<long> fib(int n) {
    if (n < 2) co_return n;
    auto [a, b] = co_await goro::fj::all(fib(n - 1), fib(n - 2));
    co_return a + b;
}

long fib_plain(int n) { return n < 2 ? n : fib_plain(n - 1) + fib_plain(n - 2); }

// A tree of fan-out 10 (the suite's skynet): the leaves give their numbers,
// so the root's value is the sum of 0 .. 10^depth - 1.
goro::task<long> skynet(long num, int depth) {
    if (depth == 0) co_return num;
    std::array<goro::task<long>, 10> kids;
    for (long i = 0; i < 10; ++i) kids[i] = skynet(num * 10 + i, depth - 1);
    const std::array<long, 10> values = co_await goro::fj::all(std::move(kids));
    long sum = 0;
    for (long v : values) sum += v;
    co_return sum;
}

// nqueens' shape: a fan-out that varies from node to node (the bounded form).
goro::task<long> queens(int n, int row, std::array<int, 12> cols) {
    if (row == n) co_return 1;
    std::array<goro::task<long>, 12> kids;
    std::size_t count = 0;
    for (int c = 0; c < n; ++c) {
        bool safe = true;
        for (int r = 0; r < row; ++r)
            if (cols[r] == c || cols[r] - c == row - r || c - cols[r] == row - r) safe = false;
        if (!safe) continue;
        std::array<int, 12> next = cols;
        next[row] = c;
        kids[count++] = queens(n, row + 1, next);
    }
    const std::array<long, 12> values = co_await goro::fj::all(std::move(kids), count);
    long sum = 0;
    for (std::size_t i = 0; i < count; ++i) sum += values[i];
    co_return sum;
}

// The same with the range form: a view makes each child as fj::all takes it.
goro::task<long> queens_range(int n, int row, std::array<int, 12> cols) {
    if (row == n) co_return 1;
    std::size_t count = 0;
    auto kids = std::views::iota(0, n) | std::views::filter([&](int c) {
                    for (int r = 0; r < row; ++r)
                        if (cols[r] == c || cols[r] - c == row - r || c - cols[r] == row - r) return false;
                    return true;
                }) |
                std::views::transform([&](int c) {
                    std::array<int, 12> next = cols;
                    next[row] = c;
                    ++count;
                    return queens_range(n, row + 1, next);
                });
    const std::array<long, 12> values = co_await goro::fj::all<12>(kids);
    long sum = 0;
    for (std::size_t i = 0; i < count; ++i) sum += values[i];
    co_return sum;
}

goro::task<long> value(long v) { co_return v; }
goro::task<> sleep_then_set(std::atomic<bool>* flag) {
    co_await goro::sleep(1ms);
    flag->store(true);
}
// Sets the flag: a sibling that only another processor can run while the
// child run in place waits for it.
goro::task<long> set_flag(std::atomic<bool>* flag) {
    flag->store(true);
    co_return 1;
}
// Forks until the flag is set; at least one fork.
goro::task<long> fork_until(std::atomic<bool>* flag) {
    long n = 0;
    do {
        auto [x, y] = co_await goro::fj::all(value(1), value(2));
        n += x + y;
    } while (!flag->load());
    co_return n;
}
goro::task<std::string> text(std::string s) { co_return s; }
goro::task<void> add_to(std::atomic<long>* total, long v) {
    total->fetch_add(v);
    co_return;
}
goro::task<long> throws_after(std::atomic<int>* finished, int which) {
    finished->fetch_add(1);
    throw std::runtime_error("child " + std::to_string(which));
    co_return 0;
}
goro::task<long> counts(std::atomic<int>* finished, long v) {
    finished->fetch_add(1);
    co_return v;
}

// A value that counts its live objects: moved without a throw (fj::all
// harvests it by moving it out of the child's promise) or with a move that
// may throw (harvested through take_result, inside a try).
template <bool NothrowMove>
struct counted_value {
    static inline std::atomic<long> live{0};
    long v = 0;
    counted_value() noexcept { live.fetch_add(1); }
    explicit counted_value(long x) noexcept : v(x) { live.fetch_add(1); }
    counted_value(const counted_value& o) noexcept : v(o.v) { live.fetch_add(1); }
    counted_value(counted_value&& o) noexcept(NothrowMove) : v(o.v) { live.fetch_add(1); }
    counted_value& operator=(const counted_value& o) noexcept {
        v = o.v;
        return *this;
    }
    counted_value& operator=(counted_value&& o) noexcept(NothrowMove) {
        v = o.v;
        return *this;
    }
    ~counted_value() { live.fetch_sub(1); }
};
using quiet_value = counted_value<true>;
using loud_value = counted_value<false>;
static_assert(goro::detail::fj_takes_without_throw<quiet_value> && !goro::detail::fj_takes_without_throw<loud_value>);

template <bool NothrowMove>
goro::task<counted_value<NothrowMove>> counted_of(long v) {
    co_return counted_value<NothrowMove>(v);
}
template <bool NothrowMove>
goro::task<counted_value<NothrowMove>> counted_throws(const char* what) {
    throw std::runtime_error(what);
    co_return counted_value<NothrowMove>(0);
}
goro::task<void> void_throws(const char* what) {
    throw std::runtime_error(what);
    co_return;
}

// fj::all over arrays: the message of the exception it rethrows, or the sum
// of the values it harvests (each result held in a named variable).
goro::task<std::string> void_array_throws() {
    std::array<goro::task<void>, 3> voids{void_throws("v0"), void_throws("v1"), void_throws("v2")};
    std::string caught;
    try {
        co_await goro::fj::all(std::move(voids));
    } catch (const std::runtime_error& e) {
        caught = e.what();
    }
    co_return caught;
}
goro::task<std::string> quiet_array_throws() {
    std::array<goro::task<quiet_value>, 3> quiets{counted_of<true>(1), counted_throws<true>("q1"),
                                                  counted_throws<true>("q2")};
    std::string caught;
    try {
        std::array<quiet_value, 3> got = co_await goro::fj::all(std::move(quiets));
        caught = "no exception, sum " + std::to_string(got[0].v + got[1].v + got[2].v);
    } catch (const std::runtime_error& e) {
        caught = e.what();
    }
    co_return caught;
}
goro::task<long> loud_array_sum() {
    std::array<goro::task<loud_value>, 2> louds{counted_of<false>(7), counted_of<false>(8)};
    std::array<loud_value, 2> got = co_await goro::fj::all(std::move(louds));
    co_return got[0].v + got[1].v;
}

// Runs main_task (returning 0) at `procs` processors; every frame that
// holds a goro_test::frame_token is freed by the end of the run, shutdown
// included.
template <typename Main>
void run_freeing_every_frame(Main& main_task, unsigned procs) {
    const long frames_before = goro_test::live_frames();
    REQUIRE(goro::run(main_task(), {.procs = procs}) == 0);
    REQUIRE(goro_test::live_frames() == frames_before);
}

}  // namespace

TEST_CASE("fj::all gives every value in order at 1, 2 and 4 processors", "[fj]") {
    watchdog dog("fj values", 120s);
    for (unsigned procs : {1u, 2u, 4u}) {
        INFO("procs " << procs);
        REQUIRE(goro::run(fib(20), {.procs = procs}) == fib_plain(20));
        REQUIRE(goro::run(skynet(0, 4), {.procs = procs}) == 9999L * 10000L / 2);
        REQUIRE(goro::run(queens(8, 0, {}), {.procs = procs}) == 92);
        REQUIRE(goro::run(queens_range(8, 0, {}), {.procs = procs}) == 92);
    }
}

TEST_CASE("fj::all's forms: mixed types, void tasks, a bounded count", "[fj]") {
    auto main_task = []() -> goro::task<int> {
        auto [n, s] = co_await goro::fj::all(value(7), text("seven"));
        REQUIRE(n == 7);
        REQUIRE(s == "seven");

        std::atomic<long> total{0};
        co_await goro::fj::all(add_to(&total, 1), add_to(&total, 2), add_to(&total, 4));
        REQUIRE(total.load() == 7);

        std::array<goro::task<void>, 3> voids{add_to(&total, 8), add_to(&total, 16), add_to(&total, 32)};
        co_await goro::fj::all(std::move(voids));
        REQUIRE(total.load() == 63);

        // Only the first two run; the third stays in the array, unrun.
        std::array<goro::task<long>, 3> some{value(1), value(2), value(3)};
        const std::array<long, 3> got = co_await goro::fj::all(std::move(some), 2);
        REQUIRE(got[0] == 1);
        REQUIRE(got[1] == 2);
        REQUIRE(got[2] == 0);
        REQUIRE(static_cast<bool>(some[2]));

        std::array<goro::task<long>, 2> none{value(1), value(2)};
        const std::array<long, 2> zero = co_await goro::fj::all(std::move(none), 0);
        REQUIRE(zero[0] == 0);
        co_return 0;
    };
    REQUIRE(goro::run(main_task(), {.procs = 2}) == 0);
}

TEST_CASE("fj::all over a range: a container's tasks, a view's, fewer than the bound, void", "[fj]") {
    auto main_task = []() -> goro::task<int> {
        std::vector<goro::task<long>> stored;
        stored.push_back(value(1));
        stored.push_back(value(2));
        const std::array<long, 4> some = co_await goro::fj::all<4>(stored);
        REQUIRE(some == std::array<long, 4>{1, 2, 0, 0});
        REQUIRE(!stored[0]);  // taken: moved from
        REQUIRE(!stored[1]);

        auto made = std::views::iota(0, 3) | std::views::transform([](int i) { return value(10 * i); });
        const std::array<long, 3> all_three = co_await goro::fj::all<3>(made);
        REQUIRE(all_three == std::array<long, 3>{0, 10, 20});

        std::vector<goro::task<long>> pair;
        pair.push_back(value(5));
        pair.push_back(value(6));
        const std::array<long, 2> by_iterators = co_await goro::fj::all<2>(pair.begin(), pair.end());
        REQUIRE(by_iterators == std::array<long, 2>{5, 6});

        std::vector<goro::task<long>> none;
        const std::array<long, 2> zero = co_await goro::fj::all<2>(none);
        REQUIRE(zero == std::array<long, 2>{0, 0});

        std::atomic<long> total{0};
        auto adders = std::views::iota(1, 4) | std::views::transform([&](int i) { return add_to(&total, i); });
        co_await goro::fj::all<3>(adders);
        REQUIRE(total.load() == 6);
        co_return 0;
    };
    REQUIRE(goro::run(main_task(), {.procs = 2}) == 0);
}

TEST_CASE("fj::all rejects an empty task and a count above the array, taking none", "[fj]") {
    auto main_task = []() -> goro::task<int> {
        goro::task<long> empty;
        int errors = 0;
        try {
            (void)co_await goro::fj::all(value(1), std::move(empty));
        } catch (const goro::runtime_error&) {
            ++errors;
        }
        std::array<goro::task<long>, 2> tasks{value(1), value(2)};
        try {
            (void)co_await goro::fj::all(std::move(tasks), 3);
        } catch (const goro::runtime_error&) {
            ++errors;
        }
        REQUIRE(static_cast<bool>(tasks[0]));
        co_return errors;
    };
    REQUIRE(goro::run(main_task(), {.procs = 1}) == 2);
}

TEST_CASE("fj::all rethrows the first exception in order once every child finished", "[fj]") {
    for (unsigned procs : {1u, 2u}) {
        INFO("procs " << procs);
        auto main_task = []() -> goro::task<int> {
            std::atomic<int> finished{0};
            std::string caught;
            try {
                std::array<goro::task<long>, 5> kids{counts(&finished, 1), throws_after(&finished, 1),
                                                     counts(&finished, 2), throws_after(&finished, 3),
                                                     counts(&finished, 4)};
                (void)co_await goro::fj::all(std::move(kids));
            } catch (const std::runtime_error& e) {
                caught = e.what();
            }
            REQUIRE(caught == "child 1");
            REQUIRE(finished.load() == 5);
            co_return 0;
        };
        REQUIRE(goro::run(main_task(), {.procs = procs}) == 0);
    }
}

TEST_CASE("fj::all harvests values and exceptions whether a value's move may throw or not", "[fj]") {
    for (unsigned procs : {1u, 2u}) {
        INFO("procs " << procs);
        auto main_task = []() -> goro::task<int> {
            const long quiet_before = quiet_value::live.load();
            const long loud_before = loud_value::live.load();
            {
                auto [q, l, n] = co_await goro::fj::all(counted_of<true>(1), counted_of<false>(2), value(3));
                REQUIRE(q.v == 1);
                REQUIRE(l.v == 2);
                REQUIRE(n == 3);
            }
            // The first exception in the children's order, whichever way
            // each child is harvested; the others are dropped.
            std::string caught;
            try {
                (void)co_await goro::fj::all(counted_of<true>(1), counted_throws<false>("loud"),
                                             counted_throws<true>("quiet"), void_throws("void"));
            } catch (const std::runtime_error& e) {
                caught = e.what();
            }
            REQUIRE(caught == "loud");
            try {
                (void)co_await goro::fj::all(void_throws("void"), counted_throws<false>("loud"),
                                             counted_throws<true>("quiet"));
            } catch (const std::runtime_error& e) {
                caught = e.what();
            }
            REQUIRE(caught == "void");
            try {
                (void)co_await goro::fj::all(counted_of<false>(5), counted_throws<true>("quiet"),
                                             counted_throws<false>("loud"));
            } catch (const std::runtime_error& e) {
                caught = e.what();
            }
            REQUIRE(caught == "quiet");

            // The array forms, each in a coroutine of its own: g++ 12 lays
            // the awaiters of several array joins over each other in one
            // frame and then warns (-Warray-bounds) about its own layout.
            REQUIRE(co_await void_array_throws() == "v0");
            REQUIRE(co_await quiet_array_throws() == "q1");
            REQUIRE(co_await loud_array_sum() == 15);
            // Every child's promise (and the value left in it) destroyed.
            REQUIRE(quiet_value::live.load() == quiet_before);
            REQUIRE(loud_value::live.load() == loud_before);
            co_return 0;
        };
        REQUIRE(goro::run(main_task(), {.procs = procs}) == 0);
    }
}

TEST_CASE("fj::all's children may park: a sleep, a mutex, a channel, a join", "[fj]") {
    watchdog dog("fj parks", 120s);
    for (unsigned procs : {1u, 2u}) {
        INFO("procs " << procs);
        auto main_task = []() -> goro::task<int> {
            goro::mutex mu;
            goro::chan<long> ch(0);
            // A goroutine outside the region feeds the channel.
            goro::go([](goro::chan<long> c) -> goro::task<> {
                for (long i = 0; i < 3; ++i) co_await c.send(i + 1);
            }(ch));
            auto sleeper = []() -> goro::task<long> {
                co_await goro::sleep(1ms);
                co_return 10;
            };
            auto locker = [](goro::mutex* m) -> goro::task<long> {
                co_await m->lock();
                co_await goro::sleep(1ms);
                m->unlock();
                co_return 20;
            };
            auto receiver = [](goro::chan<long> c) -> goro::task<long> {
                auto v = co_await c.recv();
                co_return v.value_or(-100);
            };
            auto joiner = []() -> goro::task<long> {
                auto h = goro::spawn(value(30));
                co_await goro::sleep(1ms);
                co_return co_await std::move(h);
            };
            auto [a, b, c, d, e, f, g] = co_await goro::fj::all(sleeper(), locker(&mu), locker(&mu), receiver(ch),
                                                               receiver(ch), receiver(ch), joiner());
            REQUIRE(a == 10);
            REQUIRE(b + c == 40);
            REQUIRE(d + e + f == 6);
            REQUIRE(g == 30);
            // And inside a deeper tree: a child that parks deep down.
            auto deep = [](auto& self, int depth) -> goro::task<long> {
                if (depth == 0) {
                    co_await goro::sleep(100us);
                    co_return 1;
                }
                auto [x, y] = co_await goro::fj::all(self(self, depth - 1), self(self, depth - 1));
                co_return x + y;
            };
            REQUIRE(co_await deep(deep, 6) == 64);
            co_return 0;
        };
        REQUIRE(goro::run(main_task(), {.procs = procs}) == 0);
    }
}

// The child run first spins, without parking, until its sibling has run:
// only a promotion (the idle second processor asks for work at a fork
// inside it) lets the sibling run. Without one it never ends.
TEST_CASE("fj::all hands an unstarted child to an idle processor", "[fj]") {
    watchdog dog("fj promotion", 60s);
    auto main_task = []() -> goro::task<int> {
        std::atomic<bool> sibling_ran{false};
        auto spinner = [](std::atomic<bool>* flag) -> goro::task<long> {
            // Forks while the other processor is idle: work requests (the
            // first ones may come before it has gone idle).
            long sum = 0;
            while (!flag->load()) {
                auto [x, y] = co_await goro::fj::all(value(1), value(2));
                sum = x + y;
                std::this_thread::yield();
            }
            co_return sum;
        };
        const std::size_t before = goro::num_goroutines();
        auto [s, t] = co_await goro::fj::all(set_flag(&sibling_ran), spinner(&sibling_ran));
        REQUIRE(s == 1);
        REQUIRE(t == 3);
        REQUIRE(goro::num_goroutines() == before);
        co_return 0;
    };
    REQUIRE(goro::run(main_task(), {.procs = 2}) == 0);
}

// The same, over and over, with the monitor's hand-off off: between two
// rounds the second processor runs the sibling, finds nothing, and goes from
// spinning to parked just as the next round's region promotes the next
// sibling. The wake-up must not be lost in that crossing (a parker that
// misses the push, a pusher that misses the parker): nothing else would
// run the sibling, since the spinner never parks and its forks ask for no
// more work while the sibling waits on its deque. A lost wake-up is a
// round that never ends: the child process times out.
//
// Only where regions run unbounded (GORO_TAIL_CALLS: optimized builds
// without sanitizers). Where the stack is bounded, the spinner's 64th fork
// bounces its goroutine through the loop, which forgets the enclosing
// regions: a sibling not promoted by then never is, and the spinner, which
// waits for it against fj::all's contract, would wait for ever.
TEST_CASE("fj::all: promotions reach a processor that is parking, round after round", "[fj][stress]") {
    if (goro::detail::k_fj_bounded_here) {
        WARN("SKIPPED: regions are bounded in this build (no tail calls): a child that waits for its sibling "
             "may wait for ever there");
        return;
    }
    auto result = goro_test::run_in_child(
        [] {
            ::setenv("GORO_DEBUG", "handoff=0", 1);
            auto main_task = []() -> goro::task<int> {
                const int rounds = 20'000 / goro_test::stress_divisor;
                for (int i = 0; i < rounds; ++i) {
                    std::atomic<bool> sibling_ran{false};
                    auto [s, forked] = co_await goro::fj::all(set_flag(&sibling_ran), fork_until(&sibling_ran));
                    if (s != 1 || forked < 3) co_return 1;  // the sibling's value; at least one fork
                }
                co_return 0;
            };
            return goro::run(main_task(), {.procs = 2});
        },
        std::chrono::seconds(240));
    INFO(result.stderr_text);
    REQUIRE_FALSE(result.timed_out);
    REQUIRE(result.exit_status == 0);
}

// A goroutine readied on the region's processor, and the timer it sets,
// must not wait for the whole tree: the region stops counting as progress
// and the monitor hands the processor off. The region's children fork
// until the sleeper has run: without the hand-off, never.
TEST_CASE("fj::all: a long region does not hold up a goroutine and a timer on its processor", "[fj]") {
    watchdog dog("fj fairness", 120s);
    auto main_task = []() -> goro::task<int> {
        std::atomic<bool> woke{false};
        goro::go(sleep_then_set(&woke));
        auto [a, b] = co_await goro::fj::all(fork_until(&woke), fork_until(&woke));
        REQUIRE(a + b > 0);
        co_return 0;
    };
    REQUIRE(goro::run(main_task(), {.procs = 1}) == 0);
}

// The monitor's test for a region's own promoted child (fork_join.cpp:
// a child promoted for a thief that found other work first, left on the
// region's deque, holds up nothing): only the latest promotion of a
// region on the chain counts, at any depth of the chain.
TEST_CASE("fj::all: a region's latest promotion is told from other goroutines", "[fj]") {
    using goro::detail::fj_region;
    goro::detail::goroutine* const a = reinterpret_cast<goro::detail::goroutine*>(0x1000);
    goro::detail::goroutine* const b = reinterpret_cast<goro::detail::goroutine*>(0x2000);
    goro::detail::goroutine* const c = reinterpret_cast<goro::detail::goroutine*>(0x3000);
    goro::detail::goroutine* const stranger = reinterpret_cast<goro::detail::goroutine*>(0x4000);
    goro::detail::goroutine* const outer_children[] = {a, b};
    goro::detail::goroutine* const inner_children[] = {c, stranger};
    fj_region outer{};
    outer.children = outer_children;
    outer.count = 2;
    fj_region inner{};
    inner.children = inner_children;
    inner.count = 2;
    inner.outer = &outer;
    // Nothing promoted yet: no child counts.
    REQUIRE_FALSE(goro::detail::fj_chain_latest_promotion(&inner, a));
    REQUIRE_FALSE(goro::detail::fj_chain_latest_promotion(&inner, c));
    // The outer region's first promotion, seen from the inner region.
    outer.promoted = 1;
    REQUIRE(goro::detail::fj_chain_latest_promotion(&inner, a));
    REQUIRE_FALSE(goro::detail::fj_chain_latest_promotion(&inner, b));  // not promoted
    // Its second: the first is no longer the latest (stolen or run by now).
    outer.promoted = 2;
    REQUIRE_FALSE(goro::detail::fj_chain_latest_promotion(&inner, a));
    REQUIRE(goro::detail::fj_chain_latest_promotion(&inner, b));
    inner.promoted = 1;
    REQUIRE(goro::detail::fj_chain_latest_promotion(&inner, c));
    REQUIRE_FALSE(goro::detail::fj_chain_latest_promotion(&inner, stranger));
    REQUIRE_FALSE(goro::detail::fj_chain_latest_promotion(&inner, nullptr));
    // Off the chain: the outer region's children no longer count from a
    // chain that starts past it, nor anything from an empty chain.
    inner.outer = nullptr;
    REQUIRE_FALSE(goro::detail::fj_chain_latest_promotion(&inner, b));
    REQUIRE_FALSE(goro::detail::fj_chain_latest_promotion(nullptr, c));
}

TEST_CASE("fj::all at 1 processor makes no goroutine of a child", "[fj]") {
    auto main_task = []() -> goro::task<int> {
        auto counted = [](auto& self, int depth) -> goro::task<long> {
            if (depth == 0) co_return static_cast<long>(goro::num_goroutines());
            auto [x, y] = co_await goro::fj::all(self(self, depth - 1), self(self, depth - 1));
            co_return std::max(x, y);
        };
        const std::uint64_t before = goro::metrics().goroutines_created;
        // The most goroutines any leaf saw: main alone.
        REQUIRE(co_await counted(counted, 10) == 1);
        REQUIRE(goro::metrics().goroutines_created == before);
        co_return 0;
    };
    REQUIRE(goro::run(main_task(), {.procs = 1}) == 0);
}

TEST_CASE("fj::all under load: many regions at 2 and 4 processors", "[fj][stress]") {
    watchdog dog("fj stress", 300s);
    for (unsigned procs : {2u, 4u}) {
        INFO("procs " << procs);
        auto main_task = []() -> goro::task<long> {
            long total = 0;
            for (int round = 0; round < 20; ++round) total += co_await fib(16);
            // Several roots at once, each a region tree.
            std::array<goro::join_handle<long>, 4> roots;
            for (auto& r : roots) r = goro::spawn(skynet(0, 3));
            for (auto& r : roots) total += co_await std::move(r);
            co_return total;
        };
        REQUIRE(goro::run(main_task(), {.procs = procs}) == 20 * fib_plain(16) + 4 * (999L * 1000L / 2));
    }
}

// The main goroutine returns while another sits inside a region: a child
// run in place parked forever, one sibling finished and one unstarted (at 1
// processor; at 2 it may have been promoted and run). The shutdown frees
// every frame, run or not (ASan checks it; the frame tokens count them).
TEST_CASE("fj::all: shutdown in the middle of a region frees every child", "[fj]") {
    for (unsigned procs : {1u, 2u}) {
        INFO("procs " << procs);
        auto main_task = []() -> goro::task<int> {
            goro::chan<int> never(0);
            goro::chan<int> started(1);
            auto stuck = [](goro::chan<int> c, goro::chan<int> s, goro_test::frame_token) -> goro::task<long> {
                co_await s.send(1);
                (void)co_await c.recv();
                co_return 0;
            };
            auto plain = [](goro_test::frame_token) -> goro::task<long> { co_return 1; };
            auto region = [](goro::task<long> a, goro::task<long> b, goro::task<long> c) -> goro::task<> {
                (void)co_await goro::fj::all(std::move(a), std::move(b), std::move(c));
            };
            goro::go(region(plain({}), stuck(never, started, {}), plain({})));
            (void)co_await started.recv();
            co_return 0;
        };
        run_freeing_every_frame(main_task, procs);
    }
}

namespace {

goro::task<long> token_value(long v, goro_test::frame_token) { co_return v; }

// Sets `started`, then throws: run only once promoted (its sibling waits
// for the flag, forking).
goro::task<long> start_then_throw(std::atomic<bool>* started, goro_test::frame_token) {
    started->store(true);
    throw std::runtime_error("promoted child");
    co_return 0;
}

// Sets `started`, then returns at once (it never parks).
goro::task<long> start_then_return(std::atomic<bool>* started, goro_test::frame_token) {
    started->store(true);
    co_return 7;
}

// Sets `started`, then parks for good.
goro::task<long> start_then_park(std::atomic<bool>* started, goro::chan<int> never, goro_test::frame_token) {
    started->store(true);
    (void)co_await never.recv();
    co_return 0;
}

// Forks until `flag`, tells `ready`, then parks for good.
goro::task<long> fork_until_then_park(std::atomic<bool>* flag, goro::chan<int> ready, goro::chan<int> never,
                                      goro_test::frame_token) {
    (void)co_await fork_until(flag);
    co_await ready.send(1);
    (void)co_await never.recv();
    co_return 0;
}

goro::task<> region_of_two(goro::task<long> a, goro::task<long> b) {
    (void)co_await goro::fj::all(std::move(a), std::move(b));
}

}  // namespace

TEST_CASE("fj::all never awaited frees its children, unrun", "[fj]") {
    auto main_task = []() -> goro::task<int> {
        {
            auto unawaited = goro::fj::all(token_value(1, {}), token_value(2, {}));
            std::array<goro::task<long>, 2> tasks{token_value(3, {}), token_value(4, {})};
            auto unawaited_array = goro::fj::all(std::move(tasks));
        }
        co_return 0;
    };
    run_freeing_every_frame(main_task, 1);
}

// Tasks cannot be moved out of a const range: fj::all is not viable there
// (rather than failing inside the awaiter).
template <typename R>
concept fj_all_takes = requires(R& tasks) { goro::fj::all<2>(tasks); };
static_assert(!fj_all_takes<const std::vector<goro::task<long>>>);
static_assert(fj_all_takes<std::vector<goro::task<long>>>);

TEST_CASE("fj::all over a range that is too long, has an empty task or throws frees the tasks it took, unrun",
          "[fj]") {
    auto main_task = []() -> goro::task<std::string> {
        std::atomic<int> ran{0};
        auto counted = [&ran](long v, goro_test::frame_token) -> goro::task<long> {
            ran.fetch_add(1);
            co_return v;
        };
        using goro_test::error_of;
        auto three = std::views::iota(0, 3) | std::views::transform([&](int i) { return counted(i, {}); });
        std::string what = co_await error_of([&] { return goro::fj::all<2>(three); });
        // Not sized (a filter): two taken, refused at the third, both freed.
        auto three_unsized = std::views::iota(0, 3) | std::views::filter([](int) { return true; }) |
                             std::views::transform([&](int i) { return counted(i, {}); });
        what += " / " + co_await error_of([&] { return goro::fj::all<2>(three_unsized); });
        auto with_empty = std::views::iota(0, 3) | std::views::transform([&](int i) {
                              return i == 1 ? goro::task<long>{} : counted(i, {});
                          });
        what += " / " + co_await error_of([&] { return goro::fj::all<3>(with_empty); });
        auto throwing = std::views::iota(0, 3) | std::views::transform([&](int i) {
                            if (i == 2) throw std::runtime_error("the range's own");
                            return counted(i, {});
                        });
        what += " / " + co_await error_of([&] { return goro::fj::all<3>(throwing); });
        // A container knows its length: refused before any task is taken.
        std::vector<goro::task<long>> stored;
        for (int i = 0; i < 3; ++i) stored.push_back(counted(i, {}));
        what += " / " + co_await error_of([&] { return goro::fj::all<2>(stored); });
        if (!stored[0] || !stored[2]) what += " / a stored task was taken";
        // So does a list, whose iterators cannot subtract.
        std::list<goro::task<long>> listed;
        for (int i = 0; i < 3; ++i) listed.push_back(counted(i, {}));
        what += " / " + co_await error_of([&] { return goro::fj::all<2>(listed); });
        if (!listed.front() || !listed.back()) what += " / a listed task was taken";
        co_return what + " / ran " + std::to_string(ran.load());
    };
    const long frames_before = goro_test::live_frames();
    REQUIRE(goro::run(main_task(), {.procs = 1}) ==
            "goro::fj::all: a range longer than its bound N / goro::fj::all: a range longer than its bound N / "
            "goro::fj::all: an empty task / other: the range's own / goro::fj::all: a range longer than its bound N / "
            "goro::fj::all: a range longer than its bound N / ran 0");
    REQUIRE(goro_test::live_frames() == frames_before);
}

// The first child runs only once promoted (its sibling forks until it
// started); its exception comes back once both finished.
TEST_CASE("fj::all rethrows the exception of a promoted child", "[fj]") {
    watchdog dog("fj promoted exception", 60s);
    auto main_task = []() -> goro::task<int> {
        std::atomic<bool> started{false};
        std::string caught;
        try {
            (void)co_await goro::fj::all(start_then_throw(&started, {}), fork_until(&started));
        } catch (const std::runtime_error& e) {
            caught = e.what();
        }
        REQUIRE(caught == "promoted child");
        co_return 0;
    };
    run_freeing_every_frame(main_task, 2);
}

// Shutdown while a promoted child is parked for good on another processor
// and the region's caller is parked inside the child it runs in place:
// every frame is freed once (ASan checks the double free; the tokens, the
// leak).
TEST_CASE("fj::all: shutdown with a promoted child parked frees every frame", "[fj]") {
    watchdog dog("fj promoted shutdown", 60s);
    auto main_task = []() -> goro::task<int> {
        goro::chan<int> never(0);
        goro::chan<int> ready(1);
        auto started = std::make_shared<std::atomic<bool>>(false);
        goro::go(region_of_two(start_then_park(started.get(), never, {}),
                               fork_until_then_park(started.get(), ready, never, {})));
        (void)co_await ready.recv();
        co_return 0;
    };
    run_freeing_every_frame(main_task, 2);
}

// The other half of the awaiter's shutdown walk: the promoted child has
// finished (nobody joined it yet) while the region's caller is parked
// inside the child it runs in place. Only the awaiter can free that
// frame (its join word says done: detach() returns true); the tokens
// catch a leak if it does not, ASan a double free if it frees it twice.
TEST_CASE("fj::all: shutdown with a promoted child finished frees every frame", "[fj]") {
    watchdog dog("fj promoted finished shutdown", 60s);
    auto main_task = []() -> goro::task<int> {
        goro::chan<int> never(0);
        goro::chan<int> ready(1);
        auto started = std::make_shared<std::atomic<bool>>(false);
        goro::go(region_of_two(start_then_return(started.get(), {}),
                               fork_until_then_park(started.get(), ready, never, {})));
        (void)co_await ready.recv();
        co_return 0;
    };
    run_freeing_every_frame(main_task, 2);
}
