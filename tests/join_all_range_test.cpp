// goro::join_all<N>(range) and join_all<N>(first, last): tasks taken from a
// range as it makes them, started and joined as join_all(tasks, n); and
// what it frees when the range is too long, has an empty task or throws.
#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <list>
#include <ranges>
#include <stdexcept>
#include <string>
#include <vector>

#include <goro/goro.hpp>

#include "support/error_of.hpp"
#include "support/frame_token.hpp"
#include "support/watchdog.hpp"

using namespace std::chrono_literals;
using goro_test::watchdog;

namespace {

goro::task<long> value(long v) { co_return v; }

goro::task<> add_to(std::atomic<long>* total, long v) {
    total->fetch_add(v);
    co_return;
}

// The suite's nqueens shape: a child per safe column, made by a view as
// join_all takes it; the root's value is the number of solutions.
goro::task<long> queens(int n, int row, std::array<int, 12> cols) {
    if (row == n) co_return 1;
    auto safe = [=](int col) {
        for (int r = 0; r < row; ++r) {
            const int d = cols[r] - col;
            if (d == 0 || d == row - r || d == r - row) return false;
        }
        return true;
    };
    auto children = std::views::iota(0, n) | std::views::filter(safe) | std::views::transform([=](int col) {
                        std::array<int, 12> next = cols;
                        next[row] = col;
                        return queens(n, row + 1, next);
                    });
    long total = 0;
    for (long v : co_await goro::join_all<12>(children)) total += v;
    co_return total;
}

}  // namespace

TEST_CASE("join_all over a range: values in order in a tree, at 1, 2 and 4 processors", "[join_all]") {
    watchdog dog("join_all over a range, queens", 120s);
    auto main_task = []() -> goro::task<long> {
        const long v = co_await queens(7, 0, {});
        // Every child was a goroutine, and every one finished.
        co_return goro::num_goroutines() == 1 ? v : -1;
    };
    for (unsigned procs : {1u, 2u, 4u}) {
        INFO("procs " << procs);
        REQUIRE(goro::run(main_task(), {.procs = procs}) == 40);
    }
}

TEST_CASE("join_all over a range: a container's tasks, a view's, an iterator pair, none, void", "[join_all]") {
    auto main_task = []() -> goro::task<int> {
        std::vector<goro::task<long>> stored;
        stored.push_back(value(1));
        stored.push_back(value(2));
        const std::array<long, 4> some = co_await goro::join_all<4>(stored);
        REQUIRE(some == std::array<long, 4>{1, 2, 0, 0});
        REQUIRE(!stored[0]);  // taken: moved from
        REQUIRE(!stored[1]);

        auto made = std::views::iota(0, 3) | std::views::transform([](int i) { return value(10 * i); });
        const std::array<long, 3> all_three = co_await goro::join_all<3>(made);
        REQUIRE(all_three == std::array<long, 3>{0, 10, 20});

        std::vector<goro::task<long>> pair;
        pair.push_back(value(5));
        pair.push_back(value(6));
        const std::array<long, 2> by_iterators = co_await goro::join_all<2>(pair.begin(), pair.end());
        REQUIRE(by_iterators == std::array<long, 2>{5, 6});

        // One child: joined as a co_await on its handle would.
        auto one = std::views::iota(7, 8) | std::views::transform([](int i) { return value(i); });
        const std::array<long, 2> single = co_await goro::join_all<2>(one);
        REQUIRE(single == std::array<long, 2>{7, 0});

        std::vector<goro::task<long>> none;
        const std::array<long, 2> zero = co_await goro::join_all<2>(none);
        REQUIRE(zero == std::array<long, 2>{0, 0});

        std::atomic<long> total{0};
        auto adders = std::views::iota(1, 4) | std::views::transform([&](int i) { return add_to(&total, i); });
        co_await goro::join_all<3>(adders);
        REQUIRE(total.load() == 6);
        co_return goro::num_goroutines() == 1 ? 0 : -1;
    };
    for (unsigned procs : {1u, 2u}) REQUIRE(goro::run(main_task(), {.procs = procs}) == 0);
}

// Tasks cannot be moved out of a const range: join_all is not viable there
// (rather than failing inside the awaiter).
template <typename R>
concept join_all_takes = requires(R& tasks) { goro::join_all<2>(tasks); };
static_assert(!join_all_takes<const std::vector<goro::task<long>>>);
static_assert(join_all_takes<std::vector<goro::task<long>>>);
static_assert(!join_all_takes<std::vector<int>>);

TEST_CASE("join_all over a range that is too long, has an empty task or throws frees the tasks it took, unrun",
          "[join_all]") {
    auto main_task = []() -> goro::task<std::string> {
        std::atomic<int> ran{0};
        auto counted = [&ran](long v, goro_test::frame_token) -> goro::task<long> {
            ran.fetch_add(1);
            co_return v;
        };
        using goro_test::error_of;
        auto three = std::views::iota(0, 3) | std::views::transform([&](int i) { return counted(i, {}); });
        std::string what = co_await error_of([&] { return goro::join_all<2>(three); });
        // Not sized (a filter): two taken, refused at the third, both freed.
        auto three_unsized = std::views::iota(0, 3) | std::views::filter([](int) { return true; }) |
                             std::views::transform([&](int i) { return counted(i, {}); });
        what += " / " + co_await error_of([&] { return goro::join_all<2>(three_unsized); });
        auto with_empty = std::views::iota(0, 3) | std::views::transform([&](int i) {
                              return i == 1 ? goro::task<long>{} : counted(i, {});
                          });
        what += " / " + co_await error_of([&] { return goro::join_all<3>(with_empty); });
        auto throwing = std::views::iota(0, 3) | std::views::transform([&](int i) {
                            if (i == 2) throw std::runtime_error("the range's own");
                            return counted(i, {});
                        });
        what += " / " + co_await error_of([&] { return goro::join_all<3>(throwing); });
        // A container knows its length: refused before any task is taken.
        std::vector<goro::task<long>> stored;
        for (int i = 0; i < 3; ++i) stored.push_back(counted(i, {}));
        what += " / " + co_await error_of([&] { return goro::join_all<2>(stored); });
        if (!stored[0] || !stored[2]) what += " / a stored task was taken";
        // So does a list, whose iterators cannot subtract.
        std::list<goro::task<long>> listed;
        for (int i = 0; i < 3; ++i) listed.push_back(counted(i, {}));
        what += " / " + co_await error_of([&] { return goro::join_all<2>(listed); });
        if (!listed.front() || !listed.back()) what += " / a listed task was taken";
        // Never awaited: the tasks it took are freed, unrun.
        {
            auto never = goro::join_all<3>(std::views::iota(0, 2) |
                                           std::views::transform([&](int i) { return counted(i, {}); }));
            (void)never;
        }
        co_return what + " / ran " + std::to_string(ran.load()) + " goroutines " +
            std::to_string(goro::num_goroutines());
    };
    for (unsigned procs : {1u, 2u}) {
        const long frames_before = goro_test::live_frames();
        REQUIRE(goro::run(main_task(), {.procs = procs}) ==
                "goro::join_all: a range longer than its bound N / goro::join_all: a range longer than its bound N / "
                "go of nil func value / other: the range's own / goro::join_all: a range longer than its bound N / "
                "goro::join_all: a range longer than its bound N / ran 0 goroutines 1");
        REQUIRE(goro_test::live_frames() == frames_before);
    }
}
