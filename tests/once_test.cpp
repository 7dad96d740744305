// goro::once, once_func, once_value, once_values (docs/go-behaviours.md, section H).
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

// ---------------------------------------------------------------- OnceFunc / OnceValue / OnceValues

TEST_CASE("item 34: once_func runs f once; concurrent callers park until it finished", "[sync]") {
    for (unsigned procs : {1u, 4u}) {
        INFO("procs = " << procs);
        auto main_task = []() -> goro::task<int> {
            int counter = 0;  // plain: the once's synchronization must order it
            auto init = goro::once_func([&counter]() -> goro::task<> {
                co_await goro::sleep(2ms);  // the others arrive while f runs (one processor: they must park)
                ++counter;
            });
            std::atomic<int> bad{0};
            goro::wait_group wg;
            for (int i = 0; i < 10; ++i) {
                wg.add(1);
                goro::go([](goro::once_fn<void> g, int& c, std::atomic<int>& b, goro::wait_group& w) -> goro::task<> {
                    co_await g();
                    if (c != 1) b.fetch_add(1);
                    w.done();
                }(init, counter, bad, wg));
            }
            co_await wg.wait();
            co_await init();  // done: the fast path
            if (!init.done()) co_return 1;
            co_return bad.load() == 0 && counter == 1 ? 0 : 2;
        };
        REQUIRE(goro::run(main_task(), {.procs = procs}) == 0);
    }
}

TEST_CASE("item 34: once_value gives every caller the same value; f runs once", "[sync]") {
    for (unsigned procs : {1u, 4u}) {
        INFO("procs = " << procs);
        auto main_task = []() -> goro::task<int> {
            std::atomic<int> calls{0};
            auto value = goro::once_value([&calls]() -> goro::task<std::string> {
                calls.fetch_add(1);
                co_await goro::sleep(1ms);
                co_return std::string("the value");
            });
            goro::chan<std::string> got(16);
            goro::wait_group wg;
            for (int i = 0; i < 16; ++i) {
                wg.add(1);
                goro::go([](goro::once_fn<std::string> g, goro::chan<std::string> out, goro::wait_group& w)
                             -> goro::task<> {
                    std::string v = co_await g();
                    co_await out.send(std::move(v));
                    w.done();
                }(value, got, wg));
            }
            co_await wg.wait();
            for (int i = 0; i < 16; ++i) {
                auto v = got.try_recv();
                if (!v || *v.value != "the value") co_return 1;
            }
            // A synchronous f works too.
            auto answer = goro::once_value([&calls] {
                calls.fetch_add(1);
                return 42;
            });
            const int a1 = co_await answer();
            const int a2 = co_await answer();
            co_return calls.load() == 2 && a1 == 42 && a2 == 42 ? 0 : 2;
        };
        REQUIRE(goro::run(main_task(), {.procs = procs}) == 0);
    }
}

TEST_CASE("item 34: once_values returns both results of one call", "[sync]") {
    auto main_task = []() -> goro::task<int> {
        int calls = 0;
        auto both = goro::once_values([&calls] {
            ++calls;
            return std::pair<int, std::string>(7, "seven");
        });
        auto [n1, s1] = co_await both();
        auto [n2, s2] = co_await both();
        auto three = goro::once_values([]() -> goro::task<std::tuple<int, int, int>> { co_return std::tuple(1, 2, 3); });
        auto [x, y, z] = co_await three();
        co_return calls == 1 && n1 == 7 && n2 == 7 && s1 == "seven" && s2 == "seven" && x + y + z == 6 ? 0 : 1;
    };
    REQUIRE(goro::run(main_task(), {.procs = 2}) == 0);
}

TEST_CASE("item 34: if f throws, every call rethrows the same exception and f ran once", "[sync]") {
    for (unsigned procs : {1u, 4u}) {
        INFO("procs = " << procs);
        auto main_task = []() -> goro::task<int> {
            std::atomic<int> calls{0};
            auto g = goro::once_func([&calls]() -> goro::task<> {
                calls.fetch_add(1);
                co_await goro::yield();
                throw std::runtime_error("once_func boom");
            });
            auto v = goro::once_value([&calls]() -> int {
                calls.fetch_add(1);
                throw std::runtime_error("once_value boom");
            });
            // Concurrent callers: each records the exception it got.
            goro::chan<std::exception_ptr> errs(8);
            goro::wait_group wg;
            for (int i = 0; i < 8; ++i) {
                wg.add(1);
                goro::go([](goro::once_fn<void> f, goro::chan<std::exception_ptr> out, goro::wait_group& w)
                             -> goro::task<> {
                    std::exception_ptr e;
                    try {
                        co_await f();
                    } catch (const std::runtime_error&) {
                        e = std::current_exception();
                    }
                    co_await out.send(e);
                    w.done();
                }(g, errs, wg));
            }
            co_await wg.wait();
            std::exception_ptr first;
            for (int i = 0; i < 8; ++i) {
                auto e = errs.try_recv();
                if (!e || !*e.value) co_return 1;
                if (!first) first = *e.value;
                if (*e.value != first) co_return 2;  // the same exception object
            }
            try {
                std::rethrow_exception(first);
            } catch (const std::runtime_error& e) {
                if (std::string(e.what()) != "once_func boom") co_return 3;
            }
            std::exception_ptr v1, v2;
            try {
                (void)co_await v();
            } catch (const std::runtime_error&) {
                v1 = std::current_exception();
            }
            try {
                (void)co_await v();
            } catch (const std::runtime_error&) {
                v2 = std::current_exception();
            }
            if (!v1 || v1 != v2) co_return 4;
            co_return calls.load() == 2 ? 0 : 5;
        };
        REQUIRE(goro::run(main_task(), {.procs = procs}) == 0);
    }
}

TEST_CASE("item 34: calling a once_func from inside its own f deadlocks (reported)", "[sync][deadlock]") {
    const auto r = goro_test::run_in_child(
        [] {
            goro::run(
                []() -> goro::task<> {
                    goro::once_fn<void>* self = nullptr;
                    auto g = goro::once_func([&self]() -> goro::task<> { co_await (*self)(); });
                    self = &g;
                    co_await g();
                }(),
                {.procs = 2});
            return 0;  // not reached
        },
        20s);
    REQUIRE_FALSE(r.timed_out);
    REQUIRE(r.exit_status == 2);
    REQUIRE(r.stderr_text.find("all goroutines are asleep - deadlock!") != std::string::npos);
}
