// goro::net::serve (io/tcp.hpp): the accept loop, and its graceful shutdown
// with a context and a grace period (docs/go-behaviours.md, item 90).
//
// As in the net tests: handlers report through channels and tasks return
// numbered failure codes; the assertions run after goro::run returns (Catch2
// is not thread-safe, and g++ 12 miscompiles a co_await inside REQUIRE).
// Every wait is for an event, never for time; the one short grace period
// below is the behaviour under test (what happens when it runs out), and
// the long ones are hang guards.
#include <catch2/catch.hpp>

#include <signal.h>

#include <chrono>
#include <cstdio>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <goro/goro.hpp>

#include "support/child_process.hpp"
#include "support/io_runtime.hpp"
#include "support/watchdog.hpp"

using namespace std::chrono_literals;
using goro::task;
using goro::net::tcp_listener;
using goro::net::tcp_stream;

namespace {

using goro_test::g_no_uring;
using goro_test::run_or_skip;

// Reads until EOF or an error; true if the peer closed (EOF or reset).
task<bool> reads_end(tcp_stream c) {
    char buf[64];
    for (;;) {
        auto n = co_await c.read(buf, sizeof buf);
        if (!n || *n == 0) co_return true;
    }
}

// A handler still working when the shutdown begins gets to finish: serve
// waits for it, then returns success. The handler sees its context done.
task<int> drain_main() {
    auto l = tcp_listener::listen("127.0.0.1:0").value();
    const auto addr = l.local_address().value();
    auto [ctx, cancel] = goro::with_cancel(goro::background());
    goro::chan<int> release;   // closed by the test: the handler may finish
    goro::chan<int> events{8}; // what the handler did
    auto server = goro::spawn(goro::net::serve(
        l, ctx, 1h, [release, events](tcp_stream c, goro::context hctx) -> task<void> {
            (void)events.try_send(1);  // started
            (void)co_await hctx.done().recv();
            (void)events.try_send(2);  // saw the shutdown
            (void)co_await release.recv();
            (void)co_await c.write_all("bye\n");
            (void)events.try_send(3);  // finished
        }));
    auto client = (co_await tcp_stream::connect(addr, 10s)).value();
    const std::optional<int> started = co_await events.recv();
    if (started != 1) co_return 1;
    cancel();
    const std::optional<int> saw = co_await events.recv();
    if (saw != 2) co_return 2;
    if (server.done()) co_return 3;  // it waits for the handler
    release.close();
    auto r = co_await std::move(server);
    if (!r) co_return 4;
    // The handler had finished before serve returned.
    if (events.try_recv().value != 3) co_return 5;
    char buf[4];
    auto got = co_await client.read_exact(buf, 4);
    if (!got || std::string(buf, 4) != "bye\n") co_return 6;
    const bool ended = co_await reads_end(client);
    if (!ended) co_return 7;
    // The listener is closed: nobody accepts any more.
    auto again = co_await tcp_stream::connect(addr, 10s);
    if (again) co_return 8;
    co_return 0;
}

// A handler that ignores the shutdown is cut off when the grace period runs
// out: its connection is closed (its read fails with errc::closed), and
// serve returns deadline_exceeded without waiting for it.
task<int> force_main() {
    auto l = tcp_listener::listen("127.0.0.1:0").value();
    const auto addr = l.local_address().value();
    auto [ctx, cancel] = goro::with_cancel(goro::background());
    goro::chan<int> events{8};
    // The overload whose handler takes no context.
    auto server = goro::spawn(goro::net::serve(l, ctx, 20ms, [events](tcp_stream c) -> task<void> {
        (void)events.try_send(0);
        char buf[16];
        auto n = co_await c.read(buf, sizeof buf);  // the client never sends
        (void)events.try_send(n ? 100 : goro::net::is_closed(n.error()) ? 1 : 2);
    }));
    auto client = (co_await tcp_stream::connect(addr, 10s)).value();
    const std::optional<int> started = co_await events.recv();
    if (started != 0) co_return 1;
    cancel();
    auto r = co_await std::move(server);
    if (r) co_return 2;
    if (r.error() != goro::context_errc::deadline_exceeded) co_return 3;
    const std::optional<int> outcome = co_await events.recv();
    if (outcome != 1) co_return 4;  // the read ended with errc::closed
    const bool ended = co_await reads_end(client);
    if (!ended) co_return 5;
    co_return 0;
}

// A handler that waits for the next request with its context stops at
// once; an idle server returns at once too.
task<int> ctx_io_main() {
    auto l = tcp_listener::listen("127.0.0.1:0").value();
    const auto addr = l.local_address().value();
    auto [ctx, cancel] = goro::with_cancel(goro::background());
    goro::chan<int> events{8};
    auto server = goro::spawn(goro::net::serve(
        l, ctx, 1h, [events](tcp_stream c, goro::context hctx) -> task<void> {
            (void)events.try_send(0);
            char buf[16];
            auto n = co_await c.read(buf, sizeof buf, hctx);
            (void)events.try_send(!n && n.error() == goro::context_errc::canceled ? 1 : 2);
        }));
    std::vector<tcp_stream> clients;
    for (int i = 0; i < 3; ++i) {
        clients.push_back((co_await tcp_stream::connect(addr, 10s)).value());
        const std::optional<int> started = co_await events.recv();
        if (started != 0) co_return 1;
    }
    cancel();
    auto r = co_await std::move(server);
    if (!r) co_return 2;
    for (int i = 0; i < 3; ++i) {
        const std::optional<int> outcome = co_await events.recv();
        if (outcome != 1) co_return 3;
    }
    for (auto& c : clients) {
        const bool ended = co_await reads_end(c);
        if (!ended) co_return 4;
    }

    // No connection: serve returns as soon as ctx is done, whatever the grace.
    auto l2 = tcp_listener::listen("127.0.0.1:0").value();
    auto [ctx2, cancel2] = goro::with_cancel(goro::background());
    auto idle = goro::spawn(goro::net::serve(l2, ctx2, 1h, [](tcp_stream) -> task<void> { co_return; }));
    cancel2();
    auto r2 = co_await std::move(idle);
    if (!r2) co_return 5;

    // A listener closed by someone else ends it the same way.
    auto l3 = tcp_listener::listen("127.0.0.1:0").value();
    auto closed = goro::spawn(
        goro::net::serve(l3, goro::background(), 1h, [](tcp_stream) -> task<void> { co_return; }));
    (void)l3.close();
    auto r3 = co_await std::move(closed);
    if (!r3) co_return 6;
    co_return 0;
}

// The plain serve: a closed listener ends it with success, and the
// connections' tasks go on (nothing is drained or closed).
task<int> plain_main() {
    auto l = tcp_listener::listen("127.0.0.1:0").value();
    const auto addr = l.local_address().value();
    auto server = goro::spawn(goro::net::serve(l, goro_test::echo));
    auto client = (co_await tcp_stream::connect(addr, 10s)).value();
    // One round trip first: connect returns once the kernel queued the
    // connection, not once serve accepted it, and closing the listener
    // resets a connection it still queues.
    auto first = co_await client.write_all("x");
    if (!first) co_return 4;
    char one = 0;
    auto echoed = co_await client.read_exact(&one, 1);
    if (!echoed || one != 'x') co_return 5;
    (void)l.close();
    auto r = co_await std::move(server);
    if (!r) co_return 1;
    auto w = co_await client.write_all("still here");
    if (!w) co_return 2;
    char buf[10];
    auto got = co_await client.read_exact(buf, 10);
    if (!got || std::string(buf, 10) != "still here") co_return 3;
    co_return 0;
}

}  // namespace

TEST_CASE("item 90: serve with a context lets a busy handler finish, then returns", "[net][serve]") {
    goro_test::watchdog guard("serve drain", 120s);
    int r = -1;
    if (!run_or_skip([&]() -> task<> { r = co_await drain_main(); }())) return;
    CHECK(r == 0);
}

TEST_CASE("item 90: after the grace period serve closes the connections left and says so", "[net][serve]") {
    goro_test::watchdog guard("serve force", 120s);
    for (unsigned procs : {1u, 2u}) {
        int r = -1;
        if (!run_or_skip([&]() -> task<> { r = co_await force_main(); }(), procs)) return;
        CHECK(r == 0);
    }
}

TEST_CASE("item 90: handlers waiting with their context stop at once; idle and closed servers return",
          "[net][serve]") {
    goro_test::watchdog guard("serve ctx io", 120s);
    int r = -1;
    if (!run_or_skip([&]() -> task<> { r = co_await ctx_io_main(); }())) return;
    CHECK(r == 0);
}

TEST_CASE("the plain serve returns on a closed listener and leaves its connections running", "[net][serve]") {
    goro_test::watchdog guard("plain serve", 120s);
    int r = -1;
    if (!run_or_skip([&]() -> task<> { r = co_await plain_main(); }())) return;
    CHECK(r == 0);
}

namespace {

// A handler that panics: the report names the line that called serve,
// which the child prints first ("serve called at line N").
task<int> panic_main(bool with_ctx) {
    auto l = tcp_listener::listen("127.0.0.1:0").value();
    const auto addr = l.local_address().value();
    auto boom = [](tcp_stream) -> task<void> {
        throw std::runtime_error("boom");
        co_return;
    };
    int line;
    // clang-format off
    if (with_ctx) { line = __LINE__; goro::go(goro::net::serve(l, goro::background(), 1s, boom)); }
    else { line = __LINE__; goro::go(goro::net::serve(l, boom)); }
    // clang-format on
    std::fprintf(stderr, "serve called at line %d\n", line);
    std::fflush(stderr);
    auto c = co_await tcp_stream::connect(addr, 10s);
    (void)c;
    co_await goro::sleep(1h);  // the panic ends the process first
    co_return 1;
}

}  // namespace

TEST_CASE("a connection task's spawn site is the line that called serve", "[net][serve]") {
    if (g_no_uring) return;
    for (bool with_ctx : {false, true}) {
        INFO("with a context: " << with_ctx);
        auto r = goro_test::run_in_child([with_ctx] {
            try {
                return goro::run(panic_main(with_ctx), {.procs = 1});
            } catch (const goro::startup_error&) {
                return 77;
            }
        });
        if (r.exit_status == 77) return;
        INFO(r.stderr_text);
        CHECK(r.exit_status == 2);
        CHECK_THAT(r.stderr_text, Catch::Contains("panic: boom"));
        const std::string marker = "serve called at line ";
        const auto at = r.stderr_text.find(marker);
        REQUIRE(at != std::string::npos);
        const int line = std::stoi(r.stderr_text.substr(at + marker.size()));
        // "spawned at <this file>:<that line>", not a line of io/tcp.cpp.
        CHECK_THAT(r.stderr_text, Catch::Contains("serve_test.cpp:" + std::to_string(line) + " "));
        CHECK_THAT(r.stderr_text, !Catch::Contains("tcp.cpp"));
    }
}
