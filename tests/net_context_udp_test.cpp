// goro::net UDP sockets under a goro::context (socket.hpp): send_to,
// recv_from, send and recv are woken by cancel and by a context deadline, and
// fail at once under a context already done. The stream operations:
// net_context_test.cpp.
//
// Assertions run only in the main task, after the tasks they check were
// joined; no co_await inside a REQUIRE (g++ 12: support/io_runtime.hpp).
#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <system_error>

#include <goro/goro.hpp>
#include "support/io_runtime.hpp"
#include "support/ctx_check.hpp"

using namespace std::chrono_literals;
using goro::task;
using goro::net::tcp_listener;
using goro::net::tcp_stream;
using goro::result;
using goro::net::address;

namespace {

using goro_test::run_or_skip;

task<std::error_code> recv_from_one(goro::net::udp_socket s, goro::context ctx) {
    char buf[64];
    auto r = co_await s.recv_from(buf, sizeof buf, ctx);
    co_return r ? std::error_code{} : r.error();
}

task<std::error_code> recv_one(goro::net::udp_socket s, goro::context ctx) {
    char buf[64];
    auto r = co_await s.recv(buf, sizeof buf, ctx);
    co_return r ? std::error_code{} : r.error();
}

// The next datagram's text (no context).
task<std::string> next_datagram(goro::net::udp_socket s) {
    char buf[64];
    auto r = co_await s.recv_from(buf, sizeof buf);
    co_return r ? std::string(buf, r->size) : std::string("<error>");
}

task<int> ctx_udp_main() {
    auto a = goro::net::udp_socket::bind("127.0.0.1:0").value();
    auto b = goro::net::udp_socket::bind("127.0.0.1:0").value();
    const auto a_addr = a.local_address().value();
    const auto b_addr = b.local_address().value();
    co_await goro_test::expect_ctx_wakes([&](goro::context c) { return recv_from_one(b, std::move(c)); });
    // Done already: recv_from fails at once although a datagram waits, which stays queued.
    {
        auto s = co_await a.send_to("one", b_addr);
        REQUIRE(s);
        co_await goro_test::expect_ctx_done_fails_at_once([&](goro::context c) { return recv_from_one(b, std::move(c)); });
        const std::string got = co_await next_datagram(b);
        REQUIRE(got == "one");
    }
    // Done already: send_to sends nothing (the next datagram b sees is the next one sent).
    {
        auto [ctx, cancel] = goro::with_cancel(goro::background());
        cancel();
        auto bad = co_await a.send_to("bad", b_addr, ctx);
        REQUIRE(bad.error() == goro::context_errc::canceled);
        auto [ctx2, cancel2] = goro::with_cancel(goro::background());
        auto good = co_await a.send_to("good", b_addr, ctx2);
        REQUIRE(good);
        REQUIRE(*good == 4);
        auto d_ctx = goro::with_cancel(goro::background());
        char buf[64];
        auto d = co_await b.recv_from(buf, sizeof buf, d_ctx.ctx);
        REQUIRE(d);
        REQUIRE(std::string(buf, d->size) == "good");
        REQUIRE(d->from == a_addr);
        REQUIRE(ctx2.debug_callbacks() == 0);
        REQUIRE(d_ctx.ctx.debug_callbacks() == 0);
        cancel2();
        d_ctx.cancel();
    }
    // Parked recv_from completed by a datagram, then cancel: harmless.
    {
        auto [ctx, cancel] = goro::with_cancel(goro::background());
        auto h = goro::spawn(recv_from_one(b, ctx));
        co_await goro_test::until_registered(ctx);
        auto s = co_await a.send_to("two", b_addr);
        REQUIRE(s);
        const std::error_code ec = co_await std::move(h);
        REQUIRE_FALSE(ec);
        REQUIRE(ctx.debug_callbacks() == 0);
        cancel();
    }
    // Connected mode: send / recv.
    REQUIRE(a.connect(b_addr));
    REQUIRE(b.connect(a_addr));
    co_await goro_test::expect_ctx_wakes([&](goro::context c) { return recv_one(b, std::move(c)); });
    {
        auto [ctx, cancel] = goro::with_cancel(goro::background());
        cancel();
        auto bad = co_await a.send("bad", ctx);
        REQUIRE(bad.error() == goro::context_errc::canceled);
        co_await goro_test::expect_ctx_done_fails_at_once([&](goro::context c) { return recv_one(b, std::move(c)); });
    }
    {
        auto [ctx, cancel] = goro::with_cancel(goro::background());
        auto s = co_await a.send("three", ctx);
        REQUIRE(s);
        char buf[64];
        auto r = co_await b.recv(buf, sizeof buf, ctx);
        REQUIRE(r);
        REQUIRE(std::string(buf, *r) == "three");
        REQUIRE(ctx.debug_callbacks() == 0);
        cancel();
    }
    co_return 0;
}

TEST_CASE("context: udp send_to, recv_from, send, recv honour a context", "[net][ctx]") {
    for (unsigned procs : {1u, 4u}) run_or_skip(ctx_udp_main(), procs);
}

}  // namespace
