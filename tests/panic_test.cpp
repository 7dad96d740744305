// Panics: an exception escaping a detached task (go-semantics items 82, 83).
#include <catch2/catch.hpp>

#include <stdexcept>

#include <goro/goro.hpp>

#include "support/child_process.hpp"

using namespace std::chrono_literals;

namespace {
std::atomic<int> g_guard_ran{0};
struct guard {
    ~guard() { g_guard_ran.fetch_add(1); }
};
}  // namespace

TEST_CASE("item 82: an uncaught exception in a detached task prints panic and exits 2", "[panic]") {
    auto result = goro_test::run_in_child([] {
        auto thrower = []() -> goro::task<> {
            guard g;
            co_await goro::sleep(1ms);
            throw std::runtime_error("boom");
        };
        auto main_task = [&]() -> goro::task<int> {
            goro::go(thrower());
            co_await goro::sleep(1h);  // blocked: the panic must still end the program
            co_return 0;
        };
        goro::run(main_task(), {.procs = 2});
        return 0;
    });
    REQUIRE(result.exit_status == 2);
    REQUIRE_THAT(result.stderr_text, Catch::StartsWith("panic: boom"));
    REQUIRE_THAT(result.stderr_text, Catch::Contains("panic_test.cpp"));  // spawn site
    REQUIRE_THAT(result.stderr_text, !Catch::Contains("deadlock"));
}

TEST_CASE("a spawned task whose handle was dropped panics like a detached one", "[panic]") {
    auto result = goro_test::run_in_child([] {
        auto thrower = []() -> goro::task<int> {
            co_await goro::sleep(1ms);
            throw std::runtime_error("dropped handle boom");
        };
        auto main_task = [&]() -> goro::task<int> {
            { auto h = goro::spawn(thrower()); }  // dropped before it finishes: detached
            co_await goro::sleep(1h);
            co_return 0;
        };
        goro::run(main_task(), {.procs = 2});
        return 0;
    });
    REQUIRE(result.exit_status == 2);
    REQUIRE_THAT(result.stderr_text, Catch::StartsWith("panic: dropped handle boom"));
    REQUIRE_THAT(result.stderr_text, Catch::Contains("panic_test.cpp"));  // spawn site
}

TEST_CASE("a handle dropped after its task failed discards the exception", "[panic]") {
    auto main_task = []() -> goro::task<int> {
        auto thrower = []() -> goro::task<int> { throw std::runtime_error("seen by nobody"); co_return 0; };
        auto h = goro::spawn(thrower());
        while (!h.done()) co_await goro::yield();
        { auto dropped = std::move(h); }  // the outcome was delivered to the handle
        co_return 5;
    };
    REQUIRE(goro::run(main_task(), {.procs = 2}) == 5);
}

TEST_CASE("item 82: the panicking task's destructors ran before the report", "[panic]") {
    auto result = goro_test::run_in_child([] {
        auto thrower = []() -> goro::task<> {
            guard g;
            throw std::runtime_error("boom");
            co_return;
        };
        auto main_task = [&]() -> goro::task<int> {
            goro::go(thrower());
            co_await goro::sleep(1h);
            co_return 0;
        };
        goro::run(main_task(), {.procs = 1, .panic_handler = [](const goro::panic_info& info) {
                                    // With a handler the program goes on; report and exit ourselves.
                                    std::fprintf(stderr, "handled guard=%d id=%llu\n", g_guard_ran.load(),
                                                 static_cast<unsigned long long>(info.goroutine_id));
                                    std::fflush(stderr);
                                    std::_Exit(7);
                                }});
        return 0;
    });
    REQUIRE(result.exit_status == 7);
    REQUIRE_THAT(result.stderr_text, Catch::StartsWith("handled guard=1"));
}

TEST_CASE("item 83: the spawner cannot catch a detached task's exception; the task itself can", "[panic]") {
    auto result = goro_test::run_in_child([] {
        auto inner = []() -> goro::task<int> {
            try {
                throw std::runtime_error("caught inside");
            } catch (const std::runtime_error&) {
            }
            co_return 1;
        };
        auto thrower = []() -> goro::task<> {
            throw std::logic_error("escapes");
            co_return;
        };
        auto main_task = [&]() -> goro::task<int> {
            co_await inner();
            try {
                goro::go(thrower());
            } catch (...) {
                std::fprintf(stderr, "spawner caught it\n");
            }
            co_await goro::sleep(1h);
            co_return 0;
        };
        goro::run(main_task(), {.procs = 1});
        return 0;
    });
    REQUIRE(result.exit_status == 2);
    REQUIRE_THAT(result.stderr_text, Catch::StartsWith("panic: escapes"));
    REQUIRE_THAT(result.stderr_text, !Catch::Contains("spawner caught it"));
}

TEST_CASE("a panic handler lets the program go on", "[panic]") {
    std::atomic<int> handled{0};
    auto thrower = []() -> goro::task<> {
        throw std::runtime_error("handled boom");
        co_return;
    };
    auto main_task = [&]() -> goro::task<int> {
        for (int i = 0; i < 10; ++i) goro::go(thrower());
        while (handled.load() < 10) co_await goro::sleep(1ms);
        co_return handled.load();
    };
    REQUIRE(goro::run(main_task(), {.procs = 2, .panic_handler = [&](const goro::panic_info& info) {
                                        try {
                                            std::rethrow_exception(info.error);
                                        } catch (const std::runtime_error& e) {
                                            if (std::string(e.what()) == "handled boom") handled.fetch_add(1);
                                        }
                                    }}) == 10);
}
