// goro::net close while an operation is blocked (io/detail/io_op.hpp, item
// 74): close wakes a blocked read, accept, recv_from and write (on a full
// socket buffer) with errc::closed, and an operation in flight never runs
// against a new file that reuses the descriptor.
//
// Assertions run only in the main task, after the tasks they check were
// joined; no co_await inside a REQUIRE (g++ 12: support/io_runtime.hpp).
#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <system_error>

#include <goro/goro.hpp>
#include "support/io_runtime.hpp"
#include "support/net_helpers.hpp"

using namespace std::chrono_literals;
using goro::task;
using goro::net::tcp_listener;
using goro::net::tcp_stream;
using goro::result;
using goro::net::address;

namespace {

using goro_test::k_hang_guard_ms;
using goro_test::ms_since;
using goro_test::run_or_skip;
using goro_test::small_buffers;
using goro_test::tcp_pair;
using goro_test::write_all_big;

task<int> close_unblocks_main(int rounds) {
    for (int i = 0; i < rounds; ++i) {
        auto p = co_await tcp_pair();
        auto udp = goro::net::udp_socket::bind("127.0.0.1:0").value();
        auto read_h = goro::spawn([](tcp_stream s) -> task<std::error_code> {
            char c;
            co_return (co_await s.read(&c, 1)).error();
        }(p.client));
        auto accept_h = goro::spawn([](tcp_listener l) -> task<std::error_code> {
            co_return (co_await l.accept()).error();
        }(p.listener));
        auto recv_h = goro::spawn([](goro::net::udp_socket s) -> task<std::error_code> {
            char buf[16];
            co_return (co_await s.recv_from(buf, sizeof buf)).error();
        }(udp));
        if (i % 2 == 0) co_await goro::sleep(1ms); else co_await goro::yield();
        const auto t0 = std::chrono::steady_clock::now();
        REQUIRE(p.client.close());
        REQUIRE(p.listener.close());
        REQUIRE(udp.close());
        {
            auto awaited_ = co_await std::move(read_h);
            REQUIRE(awaited_ == goro::net::errc::closed);
        }
        {
            auto awaited_ = co_await std::move(accept_h);
            REQUIRE(awaited_ == goro::net::errc::closed);
        }
        {
            auto awaited_ = co_await std::move(recv_h);
            REQUIRE(awaited_ == goro::net::errc::closed);
        }
        REQUIRE(ms_since(t0) < k_hang_guard_ms);
    }
    co_return 0;
}

TEST_CASE("close wakes a blocked read, accept and recv_from with errc::closed (item 74) [stress]", "[net][stress]") {
    for (unsigned procs : {1u, 2u, 4u}) run_or_skip(close_unblocks_main(50), procs);
}

task<int> fd_reuse_main(int rounds) {
    for (int i = 0; i < rounds; ++i) {
        auto [a, b] = goro::net::unix_stream::pair().value();
        auto reader = goro::spawn([](goro::net::unix_stream s) -> task<std::error_code> {
            char c;
            auto n = co_await s.read(&c, 1);
            co_return n ? std::error_code{} : n.error();
        }(a));
        co_await goro::yield();
        const int old_fd = a.native_handle();
        REQUIRE(a.close());
        // A new socket may reuse the number at once; the cancelled read must
        // never consume its data.
        auto [c, d] = goro::net::unix_stream::pair().value();
        {
            auto awaited_ = co_await d.write_all("Z");
            REQUIRE(awaited_);
        }
        {
            auto awaited_ = co_await std::move(reader);
            REQUIRE(awaited_ == goro::net::errc::closed);
        }
        char got = 0;
        {
            auto awaited_ = co_await c.read_exact(&got, 1);
            REQUIRE(awaited_);
        }
        REQUIRE(got == 'Z');
        (void)old_fd;
    }
    co_return 0;
}

TEST_CASE("close: an operation in flight never runs against a new file reusing the fd [stress]", "[net][stress]") {
    for (unsigned procs : {1u, 4u}) run_or_skip(fd_reuse_main(100), procs);
}

task<int> close_wakes_write_main(int rounds) {
    for (int i = 0; i < rounds; ++i) {
        auto p = co_await tcp_pair();
        small_buffers(p.client, p.server);
        auto writer = goro::spawn(write_all_big(p.client));
        // The writer is parked in a write (the buffers are full) or has not
        // started yet; either way close() ends it with errc::closed.
        if (i % 2 == 0) co_await goro::yield(); else co_await goro::sleep(1ms);
        REQUIRE(p.client.close());
        const std::error_code ec = co_await std::move(writer);
        REQUIRE(ec == goro::net::errc::closed);
        REQUIRE(goro::net::is_closed(ec));
    }
    co_return 0;
}

TEST_CASE("close wakes a write blocked on a full socket buffer with errc::closed", "[net]") {
    for (unsigned procs : {1u, 4u}) run_or_skip(close_wakes_write_main(20), procs);
}

}  // namespace
