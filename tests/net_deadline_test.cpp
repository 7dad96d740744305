// goro::net deadlines (docs/go-behaviours.md, section N, items 70-73, 75,
// 76): past, future and zero deadlines on reads, writes and accepts; a
// deadline moved while an operation is blocked; concurrent deadline changes;
// dial timeouts.
//
// Assertions run only in the main task, after the tasks they check were
// joined; no co_await inside a REQUIRE (g++ 12: support/io_runtime.hpp).
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <system_error>
#include <vector>

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
using goro_test::tcp_pair;

task<int> past_deadline_main() {
    auto p = co_await tcp_pair();
    {
        auto awaited_ = co_await p.server.write_all("READ TIMEOUT TEST");
        REQUIRE(awaited_);
    }
    co_await goro::sleep(10ms);  // data is ready
    p.client.set_read_deadline(std::chrono::steady_clock::now() - 5s);
    char buf[64];
    for (int i = 0; i < 2; ++i) {
        auto n = co_await p.client.read(buf, sizeof buf);
        REQUIRE_FALSE(n);
        REQUIRE(n.error() == goro::net::errc::timeout);
        REQUIRE(goro::net::is_timeout(n.error()));
        REQUIRE(n.error() == std::errc::timed_out);
    }
    // Writes have their own deadline: unaffected.
    {
        auto awaited_ = co_await p.client.write_all("x");
        REQUIRE(awaited_);
    }
    p.client.set_write_deadline(std::chrono::system_clock::now() - 5s);
    auto w = co_await p.client.write("x");
    REQUIRE(w.error() == goro::net::errc::timeout);
    // Accept too.
    p.listener.set_deadline(std::chrono::steady_clock::now() - 1s);
    auto a = co_await p.listener.accept();
    REQUIRE(a.error() == goro::net::errc::timeout);
    co_return 0;
}

TEST_CASE("deadlines: a past read/write/accept deadline fails at once even with data ready (item 70)", "[net]") {
    run_or_skip(past_deadline_main(), 2);
}

task<int> future_deadline_main() {
    auto p = co_await tcp_pair();
    {
        auto awaited_ = co_await p.server.write_all("READ TIMEOUT TEST");
        REQUIRE(awaited_);
    }
    p.client.set_read_deadline(std::chrono::steady_clock::now() + 50ms);
    char buf[64];
    auto first = co_await p.client.read(buf, sizeof buf);
    REQUIRE(first);
    REQUIRE(*first > 0);
    const auto t0 = std::chrono::steady_clock::now();
    // Drain whatever else arrived, then block until the deadline.
    for (;;) {
        auto n = co_await p.client.read(buf, sizeof buf);
        if (!n) {
            REQUIRE(goro::net::is_timeout(n.error()));
            break;
        }
    }
    REQUIRE(ms_since(t0) < k_hang_guard_ms);
    // Accept with a 10 ms deadline returns (TestAcceptTimeoutMustReturn).
    p.listener.set_deadline(std::chrono::steady_clock::now() + 10ms);
    const auto t1 = std::chrono::steady_clock::now();
    auto a = co_await p.listener.accept();
    REQUIRE(a.error() == goro::net::errc::timeout);
    REQUIRE(ms_since(t1) < k_hang_guard_ms);
    co_return 0;
}

TEST_CASE("deadlines: a future deadline lets reads succeed, then they time out (items 70, 72)", "[net]") {
    for (unsigned procs : {1u, 4u}) run_or_skip(future_deadline_main(), procs);
}

task<int> various_deadlines_main() {
    // Item 72: every deadline from 1 ns to 1 s interrupts a streaming read.
    auto p = co_await tcp_pair();
    std::atomic<bool> stop{false};
    auto feeder = goro::spawn([](tcp_stream s, std::atomic<bool>* stop) -> task<int> {
        std::string chunk(1024, 'z');
        while (!stop->load()) {
            auto r = co_await s.write_all(chunk);
            if (!r) break;
        }
        co_return 0;
    }(p.server, &stop));
    for (std::chrono::nanoseconds d : {1ns, 2ns, 5ns, 50ns, 1000ns, 100000ns, 1000000ns, 10000000ns, 100000000ns, 200000000ns}) {
        p.client.set_read_deadline(std::chrono::steady_clock::now() + d);
        const auto t0 = std::chrono::steady_clock::now();
        char buf[4096];
        for (;;) {
            auto n = co_await p.client.read(buf, sizeof buf);
            if (!n) {
                REQUIRE(goro::net::is_timeout(n.error()));
                break;
            }
            REQUIRE(ms_since(t0) < k_hang_guard_ms);
        }
    }
    stop = true;
    p.client.set_read_deadline(goro::net::no_deadline);
    (void)p.client.close();
    co_await std::move(feeder);
    co_return 0;
}

TEST_CASE("deadlines: 1 ns to 200 ms deadlines interrupt a streaming read (item 72)", "[net]") {
    for (unsigned procs : {1u, 4u}) run_or_skip(various_deadlines_main(), procs);
}

task<int> zero_deadline_main() {
    auto p = co_await tcp_pair();
    p.client.set_read_deadline(std::chrono::steady_clock::now() - 1s);
    p.client.set_read_deadline(goro::net::no_deadline);
    std::atomic<bool> returned{false};
    auto reader = goro::spawn([](tcp_stream s, std::atomic<bool>* returned) -> task<std::error_code> {
        char c;
        auto n = co_await s.read(&c, 1);
        returned->store(true);
        co_return n.error();
    }(p.client, &returned));
    co_await goro::sleep(100ms);
    REQUIRE_FALSE(returned.load());
    REQUIRE(p.client.close());
    const std::error_code ec = co_await std::move(reader);
    REQUIRE(ec == goro::net::errc::closed);
    REQUIRE_FALSE(goro::net::is_timeout(ec));
    co_return 0;
}

TEST_CASE("deadlines: a zero deadline blocks indefinitely; close then ends the read, not a timeout (item 71)", "[net]") {
    run_or_skip(zero_deadline_main(), 2);
}

task<int> moved_deadline_main(int rounds) {
    for (int i = 0; i < rounds; ++i) {
        auto p = co_await tcp_pair();
        p.client.set_read_deadline(std::chrono::steady_clock::now() + 1h);
        auto reader = goro::spawn([](tcp_stream s) -> task<std::error_code> {
            char c;
            auto n = co_await s.read(&c, 1);
            co_return n ? std::error_code{} : n.error();
        }(p.client));
        if (i % 2 == 0) co_await goro::sleep(1ms); else co_await goro::yield();
        const auto t0 = std::chrono::steady_clock::now();
        // Item 73: time.Unix(123, 0) — long past.
        p.client.set_read_deadline(goro::net::deadline_point{} + 123s);
        const std::error_code ec = co_await std::move(reader);
        REQUIRE(ec == goro::net::errc::timeout);
        REQUIRE(ms_since(t0) < k_hang_guard_ms);
        // Extending the deadline while blocked keeps the read blocked.
        p.client.set_read_deadline(std::chrono::steady_clock::now() + 1h);
        auto reader2 = goro::spawn([](tcp_stream s) -> task<std::size_t> {
            char c;
            auto n = co_await s.read(&c, 1);
            co_return n.value();
        }(p.client));
        co_await goro::yield();
        p.client.set_read_deadline(std::chrono::steady_clock::now() + 2h);
        p.client.set_read_deadline(goro::net::no_deadline);
        {
            auto awaited_ = co_await p.server.write_all("!");
            REQUIRE(awaited_);
        }
        {
            auto awaited_ = co_await std::move(reader2);
            REQUIRE(awaited_ == 1);
        }
    }
    co_return 0;
}

TEST_CASE("deadlines: moving the deadline into the past wakes a blocked read (item 73) [stress]", "[net][stress]") {
    for (unsigned procs : {1u, 2u, 4u}) run_or_skip(moved_deadline_main(50), procs);
}

task<int> deadline_race_main() {
    // Item 75: deadlines reset every few microseconds while reads and writes loop.
    auto p = co_await tcp_pair();
    std::atomic<bool> stop{false};
    auto setter = goro::spawn([](tcp_stream s, std::atomic<bool>* stop) -> task<int> {
        for (int i = 0; i < 1000; ++i) {
            s.set_deadline(std::chrono::steady_clock::now() + 2us);
            co_await goro::yield();
        }
        stop->store(true);
        s.set_deadline(std::chrono::steady_clock::now() - 1s);
        co_return 0;
    }(p.client, &stop));
    auto rw = [](tcp_stream s, std::atomic<bool>* stop, bool write) -> task<int> {
        char buf[256] = {};
        while (!stop->load()) {
            goro::result<std::size_t> n = std::size_t{0};
            if (write)
                n = co_await s.write(buf, sizeof buf);
            else
                n = co_await s.read(buf, sizeof buf);
            if (!n && !goro::net::is_timeout(n.error())) co_return 1;
            if (!n) co_await goro::yield();
        }
        co_return 0;
    };
    auto reader = goro::spawn(rw(p.client, &stop, false));
    auto writer = goro::spawn(rw(p.client, &stop, true));
    auto echo = goro::spawn([](tcp_stream s) -> task<int> {
        char buf[4096];
        for (;;) {
            auto n = co_await s.read(buf, sizeof buf);
            if (!n || *n == 0) co_return 0;
            if (!(co_await s.write_all(buf, *n))) co_return 0;
        }
    }(p.server));
    co_await std::move(setter);
    {
        auto awaited_ = co_await std::move(reader);
        REQUIRE(awaited_ == 0);
    }
    {
        auto awaited_ = co_await std::move(writer);
        REQUIRE(awaited_ == 0);
    }
    (void)p.client.close();
    (void)p.server.close();
    co_await std::move(echo);
    co_return 0;
}

TEST_CASE("deadlines: concurrent deadline changes with pending reads and writes (item 75) [stress]", "[net][stress]") {
    for (unsigned procs : {1u, 4u}) run_or_skip(deadline_race_main(), procs);
}

task<int> dial_timeout_main() {
    // A local black hole: a listener that never accepts, with its accept
    // queue full, drops further SYNs, so a connect to it hangs.
    auto hole = tcp_listener::listen(goro::net::address::loopback_v4(0), {.backlog = 0}).value();
    const auto addr = hole.local_address().value();
    std::vector<tcp_stream> fillers;
    for (int i = 0; i < 4; ++i) {
        auto f = co_await tcp_stream::connect(addr, 100ms);
        if (f) fillers.push_back(std::move(*f));
    }
    // A timeout <= 0 fails at once (item 76).
    for (std::chrono::nanoseconds t : {std::chrono::nanoseconds(-5s), std::chrono::nanoseconds(0)}) {
        auto c = co_await tcp_stream::connect(addr, t);
        REQUIRE(c.error() == goro::net::errc::timeout);
    }
    const auto t0 = std::chrono::steady_clock::now();
    auto c = co_await tcp_stream::connect(addr, 50ms);
    REQUIRE_FALSE(c);
    REQUIRE(goro::net::is_timeout(c.error()));
    REQUIRE(ms_since(t0) < k_hang_guard_ms);
    // A timeout of nanoseconds::max() must not overflow: it means none (the
    // connect waits; a deadline on nothing else ends it here, so only check
    // that a huge finite one behaves as a long timeout).
    auto far = goro::spawn([](goro::net::address a) -> task<std::error_code> {
        auto r = co_await tcp_stream::connect(a, std::chrono::nanoseconds(std::numeric_limits<std::int64_t>::max() - 1));
        co_return r.error();
    }(addr));
    co_await goro::sleep(20ms);
    REQUIRE_FALSE(far.done());
    co_return 0;  // the pending dial is cancelled at shutdown
}

TEST_CASE("deadlines: dial honours its timeout (item 76)", "[net]") { run_or_skip(dial_timeout_main(), 2); }

}  // namespace
