// Runs a scenario once per netpoll driver, each in its own child process, and
// the one-processor options the hand-off scenarios run under (for the
// hand-off tests: tests/handoff_test.cpp, tests/handoff_io_test.cpp,
// tests/handoff_early_test.cpp).
#pragma once

#include <catch2/catch.hpp>

#include <chrono>
#include <string_view>

#include <goro/goro.hpp>

#include "child_process.hpp"

namespace goro_test {

// The drivers every scenario runs on (hand-off is on by default on both).
inline constexpr const char* k_netpolls[] = {"io_uring", "epoll"};

inline goro::netpoll_kind netpoll_of(const char* name) {
    return std::string_view(name) == "epoll" ? goro::netpoll_kind::epoll : goro::netpoll_kind::io_uring;
}

// One processor with a 1 ms time slice on the named driver: a task that
// never suspends is handed off quickly.
inline goro::options one_proc(const char* netpoll = "io_uring") {
    goro::options o;
    o.procs = 1;
    o.time_slice = std::chrono::milliseconds(1);
    o.netpoll = netpoll_of(netpoll);
    return o;
}

// Runs scenario(netpoll) (goro::run's status) in a child process for each
// driver, one DYNAMIC_SECTION each; every child must exit 0 within `limit`
// (a hang is a failure, not a stuck test run).
template <typename F>
void on_each_driver_in_child(F scenario, std::chrono::seconds limit = std::chrono::seconds(30)) {
    for (const char* netpoll : k_netpolls) {
        DYNAMIC_SECTION(netpoll) {
            auto result = run_in_child([&] { return scenario(netpoll); }, limit);
            INFO(result.stderr_text);
            REQUIRE_FALSE(result.timed_out);
            REQUIRE(result.exit_status == 0);
        }
    }
}

}  // namespace goro_test
