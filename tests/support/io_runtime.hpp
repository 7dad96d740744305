// Helpers for the I/O tests (net, fs, bufio): run a scenario where io_uring
// may be missing, and a connected loopback TCP pair.
//
//     goro_test::run_or_skip(scenario(), 2);   // io_uring missing: a loud skip
//     goro_test::run_guarded("name", scenario());  // the same, under a watchdog
//     auto p = co_await goro_test::tcp_pair();  // p.client <-> p.server
//     goro::go(goro::net::serve(listener, goro_test::echo));
//
// Two rules for the tests that use them. Catch2 is not thread-safe:
// assertions run only in the main task after the tasks they check have been
// joined (or in the test body after run returns). No co_await inside a
// REQUIRE: g++ 12 miscompiles a co_await in Catch's assertion expression
// (the try block and handler temporaries around it) — the awaiting task
// never resumed. Await first, then assert.
#pragma once

#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <utility>

#include <goro/goro.hpp>

#include "watchdog.hpp"

namespace goro_test {

/// Set once a runtime failed to start for want of io_uring: later scenarios
/// of the same binary skip at once.
inline bool g_no_uring = false;

/// Runs `main` on a runtime with `procs` processors; true if it ran. Where
/// io_uring is unavailable (a sandbox) it warns "SKIPPED" and returns false.
template <typename T>
bool run_or_skip(goro::task<T> main, unsigned procs = 2) {
    if (g_no_uring) return false;
    try {
        goro::run(std::move(main), {.procs = procs});
        return true;
    } catch (const goro::startup_error& e) {
        g_no_uring = true;
        WARN("SKIPPED: io_uring unavailable: " << e.what());
        return false;
    }
}

/// run_or_skip under a watchdog: a scenario that hangs aborts the test
/// binary with a message naming it, instead of reaching CI's time limit.
template <typename T>
bool run_guarded(std::string name, goro::task<T> main, unsigned procs = 2,
                 std::chrono::seconds limit = std::chrono::seconds(120)) {
    watchdog dog(std::move(name), limit);
    return run_or_skip(std::move(main), procs);
}

/// Options for a runtime of `procs` processors on the epoll driver, for the
/// tests of that driver's own machinery (registration, migration).
inline goro::options epoll_options(unsigned procs) {
    return {.procs = procs, .netpoll = goro::netpoll_kind::epoll};
}

/// A connection handler that echoes what it reads until EOF or an error.
inline goro::task<void> echo(goro::net::tcp_stream c) {
    char buf[64];
    for (;;) {
        auto n = co_await c.read(buf, sizeof buf);
        if (!n || *n == 0) co_return;
        auto w = co_await c.write_all(buf, *n);
        if (!w) co_return;
    }
}

struct tcp_pair_result {
    goro::net::tcp_listener listener;
    goro::net::tcp_stream client;
    goro::net::tcp_stream server;
};

/// A listener on 127.0.0.1 and a connection through it, both ends.
inline goro::task<tcp_pair_result> tcp_pair() {
    auto l = goro::net::tcp_listener::listen("127.0.0.1:0").value();
    auto addr = l.local_address().value();
    auto accepted = goro::spawn([](goro::net::tcp_listener lst) -> goro::task<goro::net::tcp_stream> {
        co_return (co_await lst.accept()).value();
    }(l));
    auto c = (co_await goro::net::tcp_stream::connect(addr)).value();
    auto s = co_await std::move(accepted);
    co_return tcp_pair_result{l, c, s};
}

}  // namespace goro_test
