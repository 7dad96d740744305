// Panics: an exception escaping a detached task (docs/go-behaviours.md, items 82, 83).
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>

#include <goro/goro.hpp>

#include "support/child_process.hpp"
#include "support/temp_dir.hpp"

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

// ---- the main task is a goroutine too, and fatal exits keep the output ----

TEST_CASE("an exception escaping the main task, caught by nobody, is a panic: exit 2, no abort", "[panic]") {
    auto result = goro_test::run_in_child([] {
        auto main_task = []() -> goro::task<> {
            co_await goro::sleep(1ms);
            throw goro::channel_closed();
        };
        // noexcept: nothing above run() catches it, as in a program's main().
        [&]() noexcept { goro::run(main_task(), {.procs = 2}); }();
        return 0;
    });
    REQUIRE(result.exit_status == 2);  // not 134 (SIGABRT)
    REQUIRE_THAT(result.stderr_text, Catch::StartsWith("panic: send on closed channel"));
    REQUIRE_THAT(result.stderr_text, Catch::Contains("goroutine 1 [running]"));
    REQUIRE_THAT(result.stderr_text, Catch::Contains("panic_test.cpp"));  // where run() was called
    REQUIRE_THAT(result.stderr_text, !Catch::Contains("terminate called"));
}

TEST_CASE("a caller of run() may still catch the main task's exception", "[panic]") {
    auto main_task = []() -> goro::task<int> {
        throw std::runtime_error("caught by the caller");
        co_return 0;
    };
    REQUIRE_THROWS_WITH(goro::run(main_task(), {.procs = 1}), "caught by the caller");
    // ... and a later runtime runs normally.
    REQUIRE(goro::run([]() -> goro::task<int> { co_return 7; }(), {.procs = 1}) == 7);
}

TEST_CASE("a bad GORO_MAXPROCS, uncaught, is one line on stderr and exit 2", "[panic]") {
    auto result = goro_test::run_in_child([] {
        ::setenv("GORO_MAXPROCS", "abc", 1);
        [&]() noexcept { goro::run([]() -> goro::task<> { co_return; }()); }();
        return 0;
    });
    REQUIRE(result.exit_status == 2);
    REQUIRE(result.stderr_text == "goro: GORO_MAXPROCS=\"abc\" is not a positive integer\n");
}

TEST_CASE("what a program printed before a panic or a deadlock reaches a pipe or a file", "[panic]") {
    goro_test::temp_dir tmp("goro-flush");
    for (const bool deadlock : {false, true}) {
        const std::string out_path = (tmp.dir / (deadlock ? "deadlock.out" : "panic.out")).string();
        auto result = goro_test::run_in_child([&] {
            // stdout to a file: fully buffered, as into a pipe.
            if (!std::freopen(out_path.c_str(), "w", stdout)) return 3;
            auto main_task = [deadlock]() -> goro::task<int> {
                std::printf("printed before the end\n");
                if (deadlock) {
                    goro::chan<int> never;
                    co_await never.recv();
                } else {
                    goro::go([]() -> goro::task<> {
                        throw std::runtime_error("boom");
                        co_return;
                    }());
                    co_await goro::sleep(1h);
                }
                co_return 0;
            };
            return goro::run(main_task(), {.procs = 1});
        });
        REQUIRE(result.exit_status == 2);
        std::ifstream printed(out_path);
        std::string line;
        std::getline(printed, line);
        CHECK(line == "printed before the end");
    }
}
