// Checks shared by the tests of I/O operations that take a goro::context
// (net_context_test.cpp, net_context_udp_test.cpp, fs_test.cpp).
//
//     co_await goro_test::expect_ctx_wakes([&](goro::context c) { return read_one(s, std::move(c)); });
//
// `op(ctx)` must start the operation under test and return a task giving its
// error code ({} on success); the operation must block until something else
// happens (no data, no peer, a full buffer). Call from the main task only:
// Catch2's assertions are not thread-safe.
#pragma once

#include <catch2/catch.hpp>
#include <chrono>
#include <cstddef>
#include <system_error>

#include <goro/goro.hpp>

namespace goro_test {

/// Yields until `n` operations are registered for cancellation with ctx: a
/// task that registered is parked on its operation, or about to be (then the
/// cancellation finds it before it reaches the ring, and it fails at once,
/// with the same outcome).
inline goro::task<void> until_registered(goro::context ctx, std::size_t n = 1) {
    while (ctx.debug_callbacks() < n) co_await goro::yield();
}

/// A blocked op(ctx) woken by cancel() returns exactly ctx.err() (canceled);
/// one under with_timeout(20 ms) returns deadline_exceeded; neither leaves a
/// registration behind, and cancelling afterwards is harmless.
template <typename Op>
goro::task<void> expect_ctx_wakes(Op op) {
    using namespace std::chrono_literals;
    {
        auto [ctx, cancel] = goro::with_cancel(goro::background());
        auto h = goro::spawn(op(ctx));
        co_await until_registered(ctx);
        cancel();
        const std::error_code ec = co_await std::move(h);
        REQUIRE(ec == goro::context_errc::canceled);
        REQUIRE(ec == ctx.err());
        REQUIRE(ctx.debug_callbacks() == 0);
    }
    {
        auto [ctx, cancel] = goro::with_timeout(goro::background(), 20ms);
        const auto t0 = std::chrono::steady_clock::now();
        const std::error_code ec = co_await op(ctx);
        const auto waited = std::chrono::steady_clock::now() - t0;
        REQUIRE(ec == goro::context_errc::deadline_exceeded);
        REQUIRE(ec == ctx.err());
        REQUIRE(ec == std::errc::timed_out);
        REQUIRE(waited < 10s);
        REQUIRE(ctx.debug_callbacks() == 0);
        cancel();
    }
}

/// A context that is already cancelled: op(ctx) fails at once with ctx.err().
template <typename Op>
goro::task<void> expect_ctx_done_fails_at_once(Op op) {
    auto [ctx, cancel] = goro::with_cancel(goro::background());
    cancel();
    const std::error_code ec = co_await op(ctx);
    REQUIRE(ec == goro::context_errc::canceled);
    REQUIRE(ec == ctx.err());
    REQUIRE(ctx.debug_callbacks() == 0);
}

}  // namespace goro_test
