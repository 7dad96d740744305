// Helpers for the I/O tests (net, fs, bufio): run a scenario where io_uring
// may be missing, and a connected loopback TCP pair.
//
//     goro_test::run_or_skip(scenario(), 2);   // io_uring missing: a loud skip
//     auto p = co_await goro_test::tcp_pair();  // p.client <-> p.server
#pragma once

#include <catch2/catch.hpp>

#include <utility>

#include <goro/goro.hpp>

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
