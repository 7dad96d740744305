// goro::net on io_uring: docs/go-behaviours.md, section N (items 69-76), and
// the netpoller's robustness promises (io/detail/io_op.hpp: close, deadlines,
// cancellation; accept loops that survive EMFILE and resets).
//
// Catch2 is not thread-safe: assertions run only in the main task after the
// tasks they check have been joined (or in the test body after run returns).
// No co_await inside a REQUIRE: g++ 12 miscompiles a co_await in Catch's
// assertion expression (the try block and handler temporaries around it) —
// the awaiting task never resumed. Await first, then assert.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <goro/goro.hpp>
#include "support/io_runtime.hpp"
#include "support/child_process.hpp"
#include "support/ctx_check.hpp"
#include "support/watchdog.hpp"
#include "support/threads.hpp"

using namespace std::chrono_literals;
using goro::task;
using goro::net::tcp_listener;
using goro::net::tcp_stream;
using goro::result;
using goro::net::address;

namespace {

using goro_test::g_no_uring;
using goro_test::run_or_skip;
using goro_test::tcp_pair;

// Bounds on how long a deadline-bound operation took are hang guards only:
// they tell "our deadline ended it" from "it never ends" or "the kernel's own
// timeout (minutes) ended it", and are far above any figure (a shared, noisy
// machine): the latencies themselves are benchmark business.
constexpr std::int64_t k_hang_guard_ms = 10'000;

std::int64_t ms_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
}

// ---------------------------------------------------------------- TCP basics

task<int> tcp_roundtrip_main() {
    auto p = co_await tcp_pair();
    REQUIRE(p.client.peer_address().value() == p.listener.local_address().value());
    REQUIRE(p.server.peer_address().value() == p.client.local_address().value());
    {
        auto awaited_ = co_await p.client.write_all("hello, goro");
        REQUIRE(awaited_);
    }
    char buf[11];
    {
        auto awaited_ = co_await p.server.read_exact(buf, sizeof buf);
        REQUIRE(awaited_);
    }
    REQUIRE(std::string(buf, sizeof buf) == "hello, goro");
    // Echo back, larger than a socket buffer: write_all loops over short sends.
    std::string big(4 << 20, 'x');
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
    auto writer = goro::spawn([](tcp_stream s, std::string data) -> task<bool> {
        co_return static_cast<bool>(co_await s.write_all(data));
    }(p.server, big));
    std::string got(big.size(), '\0');
    {
        auto awaited_ = co_await p.client.read_exact(got.data(), got.size());
        REQUIRE(awaited_);
    }
    {
        auto awaited_ = co_await std::move(writer);
        REQUIRE(awaited_);
    }
    REQUIRE(got == big);
    // Item 74: a peer close makes a blocked read return 0 (EOF).
    REQUIRE(p.server.close());
    char c;
    auto n = co_await p.client.read(&c, 1);
    REQUIRE(n);
    REQUIRE(*n == 0);
    // read_exact reports the early end as io_errc::eof.
    auto r = co_await p.client.read_exact(&c, 1);
    REQUIRE(r.error() == goro::io_errc::eof);
    co_return 0;
}

TEST_CASE("tcp: listen, accept, connect, read, write, peer close gives EOF (item 74)", "[net]") {
    for (unsigned procs : {1u, 2u, 4u}) run_or_skip(tcp_roundtrip_main(), procs);
}

task<int> after_close_main() {
    auto p = co_await tcp_pair();
    REQUIRE(p.client.close());
    auto again = p.client.close();
    REQUIRE(again.error() == goro::net::errc::closed);
    char c;
    auto n = co_await p.client.read(&c, 1);
    REQUIRE(goro::net::is_closed(n.error()));
    REQUIRE_FALSE(goro::net::is_timeout(n.error()));
    auto w = co_await p.client.write("x");
    REQUIRE(w.error() == goro::net::errc::closed);
    // Dial to a closed listener fails.
    auto addr = p.listener.local_address().value();
    REQUIRE(p.listener.close());
    auto d = co_await tcp_stream::connect(addr);
    REQUIRE(d.error() == std::errc::connection_refused);
    // An empty handle behaves as a closed one.
    tcp_stream empty;
    auto e = co_await empty.read(&c, 1);
    REQUIRE(e.error() == goro::net::errc::closed);
    co_return 0;
}

TEST_CASE("tcp: operations after close fail with errc::closed; dial to a closed listener fails (item 74)", "[net]") {
    run_or_skip(after_close_main(), 2);
}

task<int> half_close_main() {
    auto p = co_await tcp_pair();
    {
        auto awaited_ = co_await p.client.write_all("request");
        REQUIRE(awaited_);
    }
    REQUIRE(p.client.close_write());
    // The server reads to EOF, then still answers on its half.
    std::string got;
    char buf[64];
    for (;;) {
        auto n = co_await p.server.read(buf, sizeof buf);
        REQUIRE(n);
        if (*n == 0) break;
        got.append(buf, *n);
    }
    REQUIRE(got == "request");
    {
        auto awaited_ = co_await p.server.write_all("response");
        REQUIRE(awaited_);
    }
    REQUIRE(p.server.close());
    std::string reply;
    for (;;) {
        auto n = co_await p.client.read(buf, sizeof buf);
        REQUIRE(n);
        if (*n == 0) break;
        reply.append(buf, *n);
    }
    REQUIRE(reply == "response");
    co_return 0;
}

TEST_CASE("tcp: a half-closed connection still carries the reply", "[net]") {
    run_or_skip(half_close_main(), 2);
}

task<int> connect_by_name_main() {
    auto l = tcp_listener::listen("127.0.0.1:0").value();
    const auto port = l.local_address()->port();
    auto accepted = goro::spawn([](tcp_listener l) -> task<bool> { co_return static_cast<bool>(co_await l.accept()); }(l));
    auto c = co_await tcp_stream::connect("localhost:" + std::to_string(port), 5s);
    // localhost may resolve to ::1 first, where nothing listens: connect tries each address.
    REQUIRE(c);
    {
        auto awaited_ = co_await std::move(accepted);
        REQUIRE(awaited_);
    }
    auto r = co_await goro::net::resolve("127.0.0.1", 80);
    REQUIRE(r);
    REQUIRE(r->size() == 1);
    REQUIRE((*r)[0].to_string() == "127.0.0.1:80");
    auto bad = co_await goro::net::resolve("no-such-host.invalid", 80);
    REQUIRE_FALSE(bad);
    // Go's wording; still equal to the errno condition reported before.
    REQUIRE(bad.error() == goro::net::errc::no_such_host);
    REQUIRE(bad.error() == std::errc::no_such_device_or_address);
    REQUIRE(bad.error().message() == "no such host");
    co_return 0;
}

TEST_CASE("tcp: connect resolves host names with getaddrinfo on the blocking pool", "[net]") {
    run_or_skip(connect_by_name_main(), 2);
}

// One connection to `addr` through `l`: connect, accept, one byte each way.
task<bool> one_round_trip(tcp_listener& l, address addr) {
    auto accepted = goro::spawn([](tcp_listener& lst) -> task<result<tcp_stream>> { co_return co_await lst.accept(); }(l));
    auto c = co_await tcp_stream::connect(addr);
    if (!c) co_return false;
    auto s = co_await std::move(accepted);
    if (!s) co_return false;
    auto w = co_await c->write_all("x");
    if (!w) co_return false;
    char b = 0;
    auto r = co_await s->read_exact(&b, 1);
    co_return r && b == 'x';
}

bool ipv6_loopback_works() {
    const int fd = ::socket(AF_INET6, SOCK_STREAM, 0);
    if (fd < 0) return false;
    const address a = address::loopback_v6(0);
    const bool ok = ::bind(fd, a.data(), a.size()) == 0;
    ::close(fd);
    return ok;
}

task<int> listen_forms_main() {
    // A host name resolves (as Go's Listen does), to a loopback address here.
    auto by_name = tcp_listener::listen("localhost:0");
    REQUIRE(by_name);
    const address named = by_name->local_address().value();
    REQUIRE(named.is_loopback());
    const bool named_ok = co_await one_round_trip(*by_name, named);
    REQUIRE(named_ok);
    // ":port" listens on every address, IPv4 and IPv6 on one socket.
    auto any = tcp_listener::listen(":0");
    REQUIRE(any);
    const std::uint16_t port = any->local_address()->port();
    const bool v4_ok = co_await one_round_trip(*any, address::loopback_v4(port));
    REQUIRE(v4_ok);
    if (ipv6_loopback_works()) {
        const bool v6_ok = co_await one_round_trip(*any, address::loopback_v6(port));
        REQUIRE(v6_ok);
    } else {
        WARN("no IPv6 loopback here: only the IPv4 half of \":port\" checked");
    }
    // The same for UDP.
    auto u = goro::net::udp_socket::bind(":0");
    REQUIRE(u);
    auto un = goro::net::udp_socket::bind("localhost:0");
    REQUIRE(un);
    REQUIRE(un->local_address()->is_loopback());
    // A name that does not exist fails as Go says it.
    auto none = tcp_listener::listen("no-such-host.invalid:0");
    REQUIRE_FALSE(none);
    REQUIRE(none.error() == goro::net::errc::no_such_host);
    co_return 0;
}

TEST_CASE("tcp: listen takes a host name and \":port\" listens dual-stack, as Go", "[net]") {
    run_or_skip(listen_forms_main(), 2);
}

// The pool has one thread (max_threads = procs + 1), held by a blocking call
// until the test lets it go: a lookup queued behind it cannot finish, so
// only the context can end the wait, deterministically.
task<int> resolve_ctx_main() {
    std::atomic<bool> holding{false}, release{false};
    auto hog = goro::spawn([](std::atomic<bool>* holding, std::atomic<bool>* release) -> task<int> {
        co_return co_await goro::blocking([holding, release] {
            holding->store(true);
            while (!release->load()) std::this_thread::sleep_for(1ms);
            return 0;
        });
    }(&holding, &release));
    while (!holding.load()) co_await goro::sleep(1ms);  // the hog has the pool's only thread
    {
        auto [ctx, cancel] = goro::with_cancel(goro::background());
        auto h = goro::spawn(goro::net::resolve("localhost:80", ctx));
        co_await goro::sleep(20ms);  // the lookup is (most likely) queued for the pool by now
        cancel();
        auto r = co_await std::move(h);
        REQUIRE(r.error() == goro::context_errc::canceled);
    }
    {
        auto [ctx, cancel] = goro::with_timeout(goro::background(), 20ms);
        auto r = co_await goro::net::resolve("localhost", 80, ctx);
        REQUIRE(r.error() == goro::context_errc::deadline_exceeded);
        auto d = co_await tcp_stream::connect("localhost:80", ctx);  // already done: at once
        REQUIRE(d.error() == goro::context_errc::deadline_exceeded);
        cancel();
    }
    {
        // A timeout given to connect bounds the lookup too, as a timeout.
        auto d = co_await tcp_stream::connect("localhost:80", 20ms);
        REQUIRE(goro::net::is_timeout(d.error()));
    }
    release.store(true);
    co_await std::move(hog);
    {
        // With the pool free the lookups finish (the abandoned ones too, with
        // nobody waiting), and numeric hosts never needed the pool.
        auto [ctx, cancel] = goro::with_timeout(goro::background(), 10s);
        auto r = co_await goro::net::resolve("localhost:80", ctx);
        REQUIRE(r);
        REQUIRE_FALSE(r->empty());
        auto n = co_await goro::net::resolve("::1", 80, ctx);
        REQUIRE(n);
        REQUIRE((*n)[0].to_string() == "[::1]:80");
        auto bad = co_await goro::net::resolve("[::1", ctx);
        REQUIRE_FALSE(bad);
        cancel();
    }
    co_return 0;
}

TEST_CASE("tcp: a lookup under a context or a connect timeout stops waiting for getaddrinfo", "[net][ctx]") {
    if (g_no_uring) return;
    try {
        goro::run(resolve_ctx_main(), {.procs = 1, .max_threads = 2});
    } catch (const goro::startup_error& e) {
        WARN("SKIPPED: io_uring unavailable: " << e.what());
    }
}

// ---------------------------------------------------------------- deadlines

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

// ---------------------------------------------------------------- close while blocked

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

// ---------------------------------------------------------------- UDP and Unix

// Reads that fill their buffer exactly (read_exact of fixed-size messages):
// the epoll driver learns from TCP_INQ whether such a read emptied the
// receive queue and, if so, lets the next read wait for the edge without
// trying (io/detail/epoll_driver.hpp, "Drained"); the io_uring driver learns
// it from the ring read's completion (io/detail/io_op.hpp, "Fast path"),
// and the next read goes to the ring without trying. A read must never wait
// while data is queued: messages sent together are all read at once, one
// that comes later wakes the reader, and an end of file after an exact read
// is seen. A driver that skipped an attempt it needed hangs here (the
// watchdog names the case).
task<int> exact_reads_main() {
    auto p = co_await tcp_pair();
    constexpr std::size_t k_msg = 64;
    std::string three;
    for (int m = 0; m < 3; ++m) three += std::string(k_msg, static_cast<char>('a' + m));
    for (int round = 0; round < 50; ++round) {
        {
            auto awaited_ = co_await p.client.write_all(three);
            REQUIRE(awaited_);
        }
        char buf[k_msg];
        for (int m = 0; m < 3; ++m) {
            auto r = co_await p.server.read_exact(buf, sizeof buf);
            REQUIRE(r);
            REQUIRE(std::string(buf, k_msg) == std::string(k_msg, static_cast<char>('a' + m)));
        }
        // The queue is empty now: the next message comes later, with an edge.
        auto later = goro::spawn([](tcp_stream c, int round) -> task<bool> {
            if (round % 2 == 0) co_await goro::sleep(1ms);
            co_return static_cast<bool>(co_await c.write_all(std::string(k_msg, 'z')));
        }(p.client, round));
        {
            auto r = co_await p.server.read_exact(buf, sizeof buf);
            REQUIRE(r);
        }
        REQUIRE(std::string(buf, k_msg) == std::string(k_msg, 'z'));
        {
            auto awaited_ = co_await std::move(later);
            REQUIRE(awaited_);
        }
    }
    // An exact read, then the peer's end of file: seen without more data.
    {
        auto awaited_ = co_await p.client.write_all(std::string(k_msg, 'e'));
        REQUIRE(awaited_);
    }
    char buf[k_msg];
    {
        auto r = co_await p.server.read_exact(buf, sizeof buf);
        REQUIRE(r);
    }
    REQUIRE(p.client.close());
    char c;
    auto n = co_await p.server.read(&c, 1);
    REQUIRE(n);
    REQUIRE(*n == 0);
    co_return 0;
}

TEST_CASE("tcp: reads that fill their buffer exactly never wait on queued data, and see a later message and EOF", "[net]") {
    for (unsigned procs : {1u, 2u}) goro_test::run_guarded("exact reads", exact_reads_main(), procs);
}

// A task whose operations all complete at once (UDP sends to a listening
// socket never wait) still yields its processor now and then: on one
// processor, another task gets to run while it sends.
task<int> instant_io_yields_main() {
    auto a = goro::net::udp_socket::bind("127.0.0.1:0").value();
    auto b = goro::net::udp_socket::bind("127.0.0.1:0").value();
    const auto b_addr = b.local_address().value();
    auto other_ran = std::make_shared<std::atomic<bool>>(false);
    auto other = goro::spawn([](std::shared_ptr<std::atomic<bool>> flag) -> task<void> {
        flag->store(true);
        co_return;
    }(other_ran));
    // Far more sends than the drivers let run without a yield (64 in a row).
    int sent = 0;
    bool seen = false;
    for (; sent < 100'000 && !seen; ++sent) {
        auto n = co_await a.send_to("x", b_addr);
        REQUIRE(n);
        seen = other_ran->load();
    }
    co_await std::move(other);
    REQUIRE(seen);
    REQUIRE(sent < 100'000);
    co_return 0;
}

TEST_CASE("io: a task whose operations never wait yields its processor to others", "[net]") {
    goro_test::run_guarded("instant io yields", instant_io_yields_main(), 1);
}

task<int> udp_main() {
    auto a = goro::net::udp_socket::bind("127.0.0.1:0").value();
    auto b = goro::net::udp_socket::bind("127.0.0.1:0").value();
    const auto b_addr = b.local_address().value();
    auto n = co_await a.send_to("ping", b_addr);
    REQUIRE(n);
    REQUIRE(*n == 4);
    char buf[64];
    auto d = co_await b.recv_from(buf, sizeof buf);
    REQUIRE(d);
    REQUIRE(std::string(buf, d->size) == "ping");
    REQUIRE(d->from == a.local_address().value());
    // Connected mode.
    REQUIRE(b.connect(d->from));
    {
        auto awaited_ = co_await b.send("pong");
        REQUIRE(awaited_);
    }
    auto r = co_await a.recv(buf, sizeof buf);
    REQUIRE(r);
    REQUIRE(std::string(buf, *r) == "pong");
    REQUIRE(b.peer_address().value() == a.local_address().value());
    // Read deadline on recv_from.
    a.set_read_deadline(std::chrono::steady_clock::now() + 20ms);
    auto t = co_await a.recv_from(buf, sizeof buf);
    REQUIRE(t.error() == goro::net::errc::timeout);
    co_return 0;
}

TEST_CASE("udp: send_to, recv_from, connected send/recv, deadline", "[net]") {
    for (unsigned procs : {1u, 2u}) run_or_skip(udp_main(), procs);
}

task<int> unix_main(std::string path) {
    ::unlink(path.c_str());
    auto l = goro::net::unix_listener::listen(path).value();
    auto server = goro::spawn([](goro::net::unix_listener l) -> task<std::string> {
        auto c = (co_await l.accept()).value();
        char buf[5];
        (co_await c.read_exact(buf, 5)).value();
        (co_await c.write_all("world")).value();
        co_return std::string(buf, 5);
    }(l));
    auto c = (co_await goro::net::unix_stream::connect(path)).value();
    {
        auto awaited_ = co_await c.write_all("hello");
        REQUIRE(awaited_);
    }
    char buf[5];
    {
        auto awaited_ = co_await c.read_exact(buf, 5);
        REQUIRE(awaited_);
    }
    REQUIRE(std::string(buf, 5) == "world");
    {
        auto awaited_ = co_await std::move(server);
        REQUIRE(awaited_ == "hello");
    }
    REQUIRE(l.close());
    REQUIRE(::access(path.c_str(), F_OK) != 0);  // the listener removed its path
    // Abstract socket.
    const std::string abstract = "@goro-net-test-" + std::to_string(::getpid());
    auto al = goro::net::unix_listener::listen(abstract).value();
    auto acc = goro::spawn([](goro::net::unix_listener l) -> task<bool> { co_return static_cast<bool>(co_await l.accept()); }(al));
    {
        auto awaited_ = co_await goro::net::unix_stream::connect(abstract);
        REQUIRE(awaited_);
    }
    {
        auto awaited_ = co_await std::move(acc);
        REQUIRE(awaited_);
    }
    co_return 0;
}

TEST_CASE("unix: listen, accept, connect, read, write; path and abstract sockets", "[net]") {
    run_or_skip(unix_main("/tmp/goro-net-test-" + std::to_string(::getpid()) + ".sock"), 2);
}

// ---------------------------------------------------------------- scale and robustness

// The client ends of the 10,000 connections live in a child process forked
// before goro starts (plain blocking sockets), so that this process holds
// 10,000 connections, not 20,000 descriptors. The child reads the port from
// the control pipe, connects, writes one byte on every socket when the
// parent sends 'w', and exits when the parent closes the pipe.
struct loopback_clients {
    pid_t pid = -1;
    int control = -1;  // parent's write end

    static loopback_clients fork_clients(std::size_t n) {
        int fds[2];
        REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
        loopback_clients out;
        out.pid = ::fork();
        REQUIRE(out.pid >= 0);
        if (out.pid == 0) {
            ::close(fds[1]);
            run(fds[0], n);
        }
        ::close(fds[0]);
        out.control = fds[1];
        return out;
    }

    // Returns true if the child exited 0.
    bool finish() {
        if (control >= 0) ::close(control);
        control = -1;
        int status = 0;
        if (::waitpid(pid, &status, 0) != pid) return false;
        return WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }

private:
    [[noreturn]] static void run(int control, std::size_t n) {
        std::uint16_t port = 0;
        if (::read(control, &port, sizeof port) != sizeof port) ::_exit(3);
        sockaddr_in to{};
        to.sin_family = AF_INET;
        to.sin_port = htons(port);
        to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        std::vector<int> fds;
        for (std::size_t i = 0; i < n; ++i) {
            const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) ::_exit(4);
            fds.push_back(fd);
        }
        char c;
        if (::read(control, &c, 1) != 1) ::_exit(5);
        for (int fd : fds)
            if (::write(fd, "!", 1) != 1) ::_exit(6);
        while (::read(control, &c, 1) > 0) {
        }
        ::_exit(0);
    }
};

struct many_result {
    std::size_t n = 0;
    std::size_t threads_while_blocked = 0;
    std::size_t woken = 0;
};

task<many_result> many_connections_main(std::size_t n, int control) {
    auto l = tcp_listener::listen("127.0.0.1:0").value();
    const std::uint16_t port = l.local_address().value().port();
    REQUIRE(::write(control, &port, sizeof port) == sizeof port);
    std::atomic<std::size_t> blocked{0}, woken{0};
    goro::wait_group wg;
    auto reader = [](tcp_stream s, std::atomic<std::size_t>* blocked, std::atomic<std::size_t>* woken,
                     goro::wait_group* wg) -> task<> {
        blocked->fetch_add(1);
        char c;
        auto r = co_await s.read(&c, 1);
        if (r && *r == 1) woken->fetch_add(1);
        wg->done();
    };
    for (std::size_t i = 0; i < n; ++i) {
        auto s = co_await l.accept();
        REQUIRE(s);
        wg.add(1);
        goro::go(reader(std::move(*s), &blocked, &woken, &wg));
    }
    while (blocked.load() < n) co_await goro::sleep(1ms);
    co_await goro::sleep(50ms);  // let the last reads reach the ring
    many_result out;
    out.n = n;
    out.threads_while_blocked = goro_test::thread_count();
    REQUIRE(::write(control, "w", 1) == 1);
    co_await wg.wait();
    out.woken = woken.load();
    co_return out;
}

// It also drives the rings past their sizes: 10,000 reads go through 256-entry
// submission queues (get_sqe submits early whenever a queue is full), and the
// client's 10,000 bytes complete them in bursts larger than the 512-entry
// completion queues can hold at once (the kernel keeps the excess on its
// overflow list); every reader must still wake with its byte. (Whether a
// given run overflows depends on timing; the test does not observe it.)
TEST_CASE("item 69: 10,000 connections blocked in read use about procs threads [stress]", "[net][stress]") {
    goro_test::watchdog dog("10,000 connections", 120s);  // a client that cannot connect leaves accept waiting
    rlimit lim{};
    ::getrlimit(RLIMIT_NOFILE, &lim);
    rlimit raised = lim;
    raised.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &raised);
    ::getrlimit(RLIMIT_NOFILE, &raised);
    // Each process holds one end of every connection, plus a few descriptors.
    std::size_t n = 10000;
    if (raised.rlim_cur < n + 200) {
        n = raised.rlim_cur > 400 ? raised.rlim_cur - 200 : 100;
        WARN("RLIMIT_NOFILE hard limit " << raised.rlim_max << " allows only " << n << " connections, not 10,000");
    }
    const unsigned procs = 2;
    many_result r;
    bool ran = false;
    if (!g_no_uring) {
        auto clients = loopback_clients::fork_clients(n);
        try {
            r = goro::run(many_connections_main(n, clients.control), {.procs = procs});
            ran = true;
        } catch (const goro::startup_error& e) {
            WARN("SKIPPED: io_uring unavailable: " << e.what());
        }
        if (!ran) ::kill(clients.pid, SIGKILL);
        const bool client_ok = clients.finish();
        if (ran) REQUIRE(client_ok);
    }
    ::setrlimit(RLIMIT_NOFILE, &lim);
    if (!ran) return;
    INFO("threads while " << r.n << " reads were blocked: " << r.threads_while_blocked);
    REQUIRE(r.n == n);
    // The workers, the monitor, a blocking-pool thread and the dump helper,
    // and a spare thread or two: accepting and connecting thousands without
    // suspending can outlast a time slice under a sanitizer, and the
    // monitor then hands the processor off (runtime/handoff.cpp). Not one
    // thread per connection.
    REQUIRE(r.threads_while_blocked <= procs + 6);
    REQUIRE(r.woken == r.n);
}

task<int> emfile_main() {
    auto l = tcp_listener::listen("127.0.0.1:0").value();
    const auto addr = l.local_address().value();
    auto server = goro::spawn(goro::net::serve(l, goro_test::echo));
    // Leave only a handful of descriptors free, then open connections until
    // the process runs out: the server's accept hits EMFILE.
    rlimit lim{};
    ::getrlimit(RLIMIT_NOFILE, &lim);
    int probe = ::dup(0);
    lim.rlim_cur = static_cast<rlim_t>(probe + 8);
    ::close(probe);
    ::setrlimit(RLIMIT_NOFILE, &lim);
    std::vector<tcp_stream> clients;
    for (int i = 0; i < 32; ++i) {
        auto c = co_await tcp_stream::connect(addr, 1s);
        if (!c) {
            if (c.error() != std::errc::too_many_files_open) co_return 10;
            break;
        }
        clients.push_back(std::move(*c));
    }
    co_await goro::sleep(50ms);  // the server meets EMFILE and backs off
    // Free the descriptors; the server must recover and serve a new client.
    for (auto& c : clients) (void)c.close();
    clients.clear();
    lim.rlim_cur = 1024;
    ::setrlimit(RLIMIT_NOFILE, &lim);
    auto c = co_await tcp_stream::connect(addr, 5s);
    if (!c) co_return 11;
    if (!(co_await c->write_all("alive"))) co_return 12;
    c->set_read_deadline(std::chrono::steady_clock::now() + 10s);
    char buf[5];
    if (!(co_await c->read_exact(buf, 5))) co_return 13;
    if (std::string(buf, 5) != "alive") co_return 14;
    (void)l.close();
    auto r = co_await std::move(server);
    if (!r) co_return 15;
    co_return 0;
}

TEST_CASE("robustness: an accept loop survives EMFILE and keeps serving", "[net]") {
    if (g_no_uring) return;
    auto r = goro_test::run_in_child([] {
        try {
            return goro::run(emfile_main(), {.procs = 2});
        } catch (const goro::startup_error&) {
            return 77;
        }
    });
    if (r.exit_status == 77) {
        WARN("SKIPPED: io_uring unavailable");
        return;
    }
    INFO(r.stderr_text);
    REQUIRE(r.exit_status == 0);
}

task<int> reset_mid_write_main() {
    auto p = co_await tcp_pair();
    auto writer = goro::spawn([](tcp_stream s) -> task<std::error_code> {
        std::string chunk(64 * 1024, 'w');
        for (;;) {
            auto r = co_await s.write_all(chunk);
            if (!r) co_return r.error();
        }
    }(p.server));
    char buf[1024];
    {
        auto awaited_ = co_await p.client.read(buf, sizeof buf);
        REQUIRE(awaited_);
    }
    // SO_LINGER 0: close sends RST.
    linger lg{1, 0};
    REQUIRE(::setsockopt(p.client.native_handle(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0);
    REQUIRE(p.client.close());
    const std::error_code ec = co_await std::move(writer);
    REQUIRE((ec == std::errc::connection_reset || ec == std::errc::broken_pipe));
    co_return 0;
}

TEST_CASE("robustness: a peer reset mid-write is an error result, never SIGPIPE", "[net]") {
    if (g_no_uring) return;
    // In a child with SIGPIPE at its default action, so that a stray SIGPIPE
    // would kill it.
    auto r = goro_test::run_in_child([] {
        ::signal(SIGPIPE, SIG_DFL);
        try {
            goro::run(reset_mid_write_main(), {.procs = 2});
        } catch (const goro::startup_error&) {
            return 77;
        } catch (const std::exception& e) {
            std::fprintf(stderr, "%s\n", e.what());
            return 1;
        }
        return 0;
    });
    if (r.exit_status == 77) return;
    INFO(r.stderr_text);
    REQUIRE(r.exit_status == 0);
}

// ---------------------------------------------------------------- close wakes a blocked write

// Shrinks both ends' buffers (which also turns off autotuning), so that a
// peer that never reads stops a writer after a few kilobytes.
void small_buffers(const goro::net::stream_socket& writer, const goro::net::stream_socket& reader) {
    const int size = 4096;
    ::setsockopt(writer.native_handle(), SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    ::setsockopt(reader.native_handle(), SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
}

// write_all of more than any socket buffer holds, to a peer that never reads.
template <typename... Ctx>
task<std::error_code> write_all_big(goro::net::stream_socket s, Ctx... ctx) {
    const std::string data(4 << 20, 'b');
    auto r = co_await s.write_all(data, ctx...);
    co_return r ? std::error_code{} : r.error();
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

// ---------------------------------------------------------------- contexts (socket.hpp)
//
// Every blocking operation takes a goro::context: cancelling it (or its
// deadline passing) wakes the blocked operation with exactly ctx.err(); a
// context already done fails at once without I/O; a completed operation
// leaves nothing registered with its context (cancelling afterwards would
// call into a dead frame: ASan catches that, debug_callbacks() counts it).

template <typename Stream>
task<std::error_code> read_one(Stream s, goro::context ctx) {
    char c;
    auto r = co_await s.read(&c, 1, ctx);
    co_return r ? std::error_code{} : r.error();
}

template <typename Stream>
task<std::error_code> write_one(Stream s, char c, goro::context ctx) {
    auto r = co_await s.write(&c, 1, ctx);
    co_return r ? std::error_code{} : r.error();
}

task<std::error_code> read_exact_4(tcp_stream s, goro::context ctx) {
    char buf[4];
    auto r = co_await s.read_exact(buf, sizeof buf, std::move(ctx));
    co_return r ? std::error_code{} : r.error();
}

// The next byte the stream delivers (no context), or '?' on error or EOF.
task<char> next_byte(goro::net::stream_socket s) {
    char c = '?';
    auto r = co_await s.read(&c, 1);
    co_return r && *r == 1 ? c : '?';
}

task<int> ctx_read_main() {
    auto p = co_await tcp_pair();
    co_await goro_test::expect_ctx_wakes([&](goro::context c) { return read_one(p.client, std::move(c)); });
    // The cancelled reads consumed nothing: the next byte sent is the next read.
    {
        auto w = co_await p.server.write_all("x");
        REQUIRE(w);
        const char got = co_await next_byte(p.client);
        REQUIRE(got == 'x');
    }
    // Done already: fails at once although data is ready, and reads nothing.
    {
        auto w = co_await p.server.write_all("y");
        REQUIRE(w);
        co_await goro_test::expect_ctx_done_fails_at_once([&](goro::context c) { return read_one(p.client, std::move(c)); });
        const char got = co_await next_byte(p.client);
        REQUIRE(got == 'y');
    }
    // Completed reads (data ready, then data that comes while parked) leave
    // nothing registered; cancelling afterwards is harmless.
    {
        auto [ctx, cancel] = goro::with_cancel(goro::background());
        auto w = co_await p.server.write_all("z");
        REQUIRE(w);
        char c = 0;
        auto r = co_await p.client.read(&c, 1, ctx);
        REQUIRE(r);
        REQUIRE(*r == 1);
        REQUIRE(c == 'z');
        REQUIRE(ctx.debug_callbacks() == 0);
        auto h = goro::spawn(read_one(p.client, ctx));
        co_await goro_test::until_registered(ctx);
        auto w2 = co_await p.server.write_all("w");
        REQUIRE(w2);
        const std::error_code ec = co_await std::move(h);
        REQUIRE_FALSE(ec);
        REQUIRE(ctx.debug_callbacks() == 0);
        cancel();
        auto after = co_await p.client.read(&c, 1, ctx);
        REQUIRE(after.error() == goro::context_errc::canceled);
    }
    // A cancel from a thread outside the runtime reaches the ring through its mailbox.
    {
        auto [ctx, cancel] = goro::with_cancel(goro::background());
        auto h = goro::spawn(read_one(p.client, ctx));
        co_await goro_test::until_registered(ctx);
        const goro::cancel_func cf = cancel;
        std::thread([cf] { cf(); }).join();
        const std::error_code ec = co_await std::move(h);
        REQUIRE(ec == goro::context_errc::canceled);
    }
    // read_exact: part of the data came, the rest never does.
    {
        auto w = co_await p.server.write_all("ab");
        REQUIRE(w);
        co_await goro_test::expect_ctx_wakes([&](goro::context c) { return read_exact_4(p.client, std::move(c)); });
        co_await goro_test::expect_ctx_done_fails_at_once([&](goro::context c) { return read_exact_4(p.client, std::move(c)); });
    }
    // A context and a socket deadline: the first to fire wins.
    {
        auto [ctx, cancel] = goro::with_timeout(goro::background(), 1h);
        p.client.set_read_deadline(std::chrono::steady_clock::now() + 10ms);
        const std::error_code ec = co_await read_one(p.client, ctx);
        REQUIRE(ec == goro::net::errc::timeout);
        p.client.set_read_deadline(goro::net::no_deadline);
        cancel();
    }
    co_return 0;
}

TEST_CASE("context: read and read_exact are woken by cancel and by a context deadline", "[net][ctx]") {
    for (unsigned procs : {1u, 2u, 4u}) run_or_skip(ctx_read_main(), procs);
}

task<int> ctx_write_main() {
    // TCP: write_all of more than the buffers hold to a peer that never reads.
    {
        auto p = co_await tcp_pair();
        small_buffers(p.client, p.server);
        co_await goro_test::expect_ctx_wakes([&](goro::context c) { return write_all_big(p.client, std::move(c)); });
        co_await goro_test::expect_ctx_done_fails_at_once([&](goro::context c) { return write_all_big(p.client, std::move(c)); });
    }
    // A Unix stream frees buffer space only when the peer reads, so "full"
    // stays full: a one-byte write blocks until then.
    auto [a, b] = goro::net::unix_stream::pair().value();
    std::size_t filled = 0;
    {
        const std::string chunk(64 * 1024, 'f');
        for (;;) {
            const ssize_t n = ::send(a.native_handle(), chunk.data(), chunk.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n <= 0) break;
            filled += static_cast<std::size_t>(n);
        }
    }
    REQUIRE(filled > 0);
    co_await goro_test::expect_ctx_wakes([&](goro::context c) { return write_one(a, 'X', std::move(c)); });
    co_await goro_test::expect_ctx_done_fails_at_once([&](goro::context c) { return write_one(a, 'X', std::move(c)); });
    // A write parked under a context completes when the peer reads; then
    // nothing is registered, and cancelling is harmless.
    {
        auto [ctx, cancel] = goro::with_cancel(goro::background());
        auto h = goro::spawn(write_one(a, 'w', ctx));
        co_await goro_test::until_registered(ctx);
        std::string drained(filled + 1, '\0');
        auto r = co_await b.read_exact(drained.data(), drained.size());
        REQUIRE(r);
        const std::error_code ec = co_await std::move(h);
        REQUIRE_FALSE(ec);
        REQUIRE(ctx.debug_callbacks() == 0);
        cancel();
        // The cancelled writes sent nothing: the filler, then the one 'w'.
        REQUIRE(drained == std::string(filled, 'f') + "w");
    }
    // Completed at once (room in the buffer), then cancelled: harmless.
    {
        auto [ctx, cancel] = goro::with_cancel(goro::background());
        auto r = co_await a.write("v", ctx);
        REQUIRE(r);
        REQUIRE(ctx.debug_callbacks() == 0);
        cancel();
        const char got = co_await next_byte(b);
        REQUIRE(got == 'v');
        auto w = co_await a.write_all("after", ctx);
        REQUIRE(w.error() == goro::context_errc::canceled);
    }
    co_return 0;
}

TEST_CASE("context: write and write_all blocked on a full buffer are woken by cancel and by a deadline", "[net][ctx]") {
    for (unsigned procs : {1u, 4u}) run_or_skip(ctx_write_main(), procs);
}

template <typename Listener>
task<std::error_code> accept_one(Listener l, goro::context ctx) {
    auto r = co_await l.accept(ctx);
    co_return r ? std::error_code{} : r.error();
}

task<std::error_code> unix_connect_with(std::string path, goro::context ctx) {
    auto r = co_await goro::net::unix_stream::connect(std::move(path), std::move(ctx));
    co_return r ? std::error_code{} : r.error();
}

task<int> ctx_accept_main(std::string unix_path) {
    auto l = tcp_listener::listen("127.0.0.1:0").value();
    const auto addr = l.local_address().value();
    co_await goro_test::expect_ctx_wakes([&](goro::context c) { return accept_one(l, std::move(c)); });
    // Done already: fails at once although a connection waits; it stays queued.
    auto c1 = co_await tcp_stream::connect(addr);
    REQUIRE(c1);
    co_await goro_test::expect_ctx_done_fails_at_once([&](goro::context c) { return accept_one(l, std::move(c)); });
    {
        auto [ctx, cancel] = goro::with_cancel(goro::background());
        auto a = co_await l.accept(ctx);
        REQUIRE(a);
        REQUIRE(a->peer_address().value() == c1->local_address().value());
        REQUIRE(ctx.debug_callbacks() == 0);
        // Parked, then a client comes.
        auto h = goro::spawn(accept_one(l, ctx));
        co_await goro_test::until_registered(ctx);
        auto c2 = co_await tcp_stream::connect(addr);
        REQUIRE(c2);
        const std::error_code ec = co_await std::move(h);
        REQUIRE_FALSE(ec);
        REQUIRE(ctx.debug_callbacks() == 0);
        cancel();
    }
    // Unix listeners.
    ::unlink(unix_path.c_str());
    auto ul = goro::net::unix_listener::listen(unix_path).value();
    co_await goro_test::expect_ctx_wakes([&](goro::context c) { return accept_one(ul, std::move(c)); });
    co_await goro_test::expect_ctx_done_fails_at_once([&](goro::context c) { return accept_one(ul, std::move(c)); });
    {
        auto [ctx, cancel] = goro::with_cancel(goro::background());
        auto h = goro::spawn(accept_one(ul, ctx));
        co_await goro_test::until_registered(ctx);
        auto uc = co_await goro::net::unix_stream::connect(unix_path, ctx);
        REQUIRE(uc);
        const std::error_code ec = co_await std::move(h);
        REQUIRE_FALSE(ec);
        REQUIRE(ctx.debug_callbacks() == 0);
        cancel();
        auto late = co_await goro::net::unix_stream::connect(unix_path, ctx);
        REQUIRE(late.error() == goro::context_errc::canceled);
    }
    REQUIRE(ul.close());
    // A Unix connect to a full accept queue (backlog 0, one connection
    // queued) waits for room: cancel wakes it, a context deadline ends it.
    const std::string full_path = unix_path + ".full";
    ::unlink(full_path.c_str());
    auto full = goro::net::unix_listener::listen(full_path, 0).value();
    auto queued = co_await goro::net::unix_stream::connect(full_path);
    REQUIRE(queued);
    auto probe_ctx = goro::with_timeout(goro::background(), 50ms);
    auto probe = co_await goro::net::unix_stream::connect(full_path, probe_ctx.ctx);
    if (probe.error() == goro::context_errc::deadline_exceeded) {
        co_await goro_test::expect_ctx_wakes([&](goro::context c) { return unix_connect_with(full_path, std::move(c)); });
    } else if (std::string_view(goro::netpoller()) == "epoll") {
        // The epoll driver fails such a connect at once, as Go does
        // (README, "Where goro runs").
        REQUIRE(probe.error() == std::errc::resource_unavailable_try_again);
    } else {
        WARN("SKIPPED (partly): a Unix connect to a full accept queue does not wait on this kernel ("
             << (probe ? std::string("it connected") : probe.error().message()) << ")");
    }
    probe_ctx.cancel();
    REQUIRE(full.close());
    co_return 0;
}

TEST_CASE("context: accept (tcp and unix) and unix connect are woken by cancel and by a deadline", "[net][ctx]") {
    for (unsigned procs : {1u, 4u})
        run_or_skip(ctx_accept_main("/tmp/goro-net-ctx-" + std::to_string(::getpid()) + ".sock"), procs);
}

task<std::error_code> connect_with(goro::net::address a, goro::context ctx) {
    auto r = co_await tcp_stream::connect(a, std::move(ctx));
    co_return r ? std::error_code{} : r.error();
}

// A local black hole: a listener with backlog 0 that never accepts. Once its
// accept queue holds a connection, the kernel drops further SYNs and connects
// to it hang (with net.ipv4.tcp_abort_on_overflow=1 they are reset instead).
struct black_hole {
    tcp_listener listener;
    goro::net::address addr;
    std::vector<tcp_stream> fillers;
    bool holds = false;  // a probe connect timed out: connects here hang
};

task<black_hole> make_black_hole() {
    black_hole h;
    h.listener = tcp_listener::listen(goro::net::address::loopback_v4(0), {.backlog = 0}).value();
    h.addr = h.listener.local_address().value();
    for (int i = 0; i < 4; ++i) {
        auto f = co_await tcp_stream::connect(h.addr, 100ms);
        if (f) {
            h.fillers.push_back(std::move(*f));
        } else if (goro::net::is_timeout(f.error())) {
            h.holds = true;
            break;
        } else {
            break;
        }
    }
    co_return h;
}

task<int> ctx_connect_main() {
    // Done already: fails at once (not even a socket is made).
    {
        auto l = tcp_listener::listen("127.0.0.1:0").value();
        const auto addr = l.local_address().value();
        co_await goro_test::expect_ctx_done_fails_at_once([&](goro::context c) { return connect_with(addr, std::move(c)); });
        auto [ctx, cancel] = goro::with_cancel(goro::background());
        cancel();
        auto by_name = co_await tcp_stream::connect("localhost:" + std::to_string(addr.port()), ctx);
        REQUIRE(by_name.error() == goro::context_errc::canceled);
    }
    // Completed connects (by address and by "host:port"), then cancel: harmless.
    {
        auto l = tcp_listener::listen("127.0.0.1:0").value();
        const auto addr = l.local_address().value();
        auto [ctx, cancel] = goro::with_cancel(goro::background());
        auto c = co_await tcp_stream::connect(addr, ctx);
        REQUIRE(c);
        const std::string hp = addr.to_string();
        auto c2 = co_await tcp_stream::connect(hp, ctx);
        REQUIRE(c2);
        REQUIRE(ctx.debug_callbacks() == 0);
        cancel();
    }
    // A dial that hangs: cancel wakes it; a context deadline is a dial timeout.
    auto hole = co_await make_black_hole();
    if (!hole.holds) {
        WARN("SKIPPED (partly): connects to a full accept queue do not hang on this kernel "
             "(net.ipv4.tcp_abort_on_overflow?); dial cancellation not exercised");
        co_return 0;
    }
    co_await goro_test::expect_ctx_wakes([&](goro::context c) { return connect_with(hole.addr, std::move(c)); });
    {
        // The context's deadline, not the (later) dial timeout, ends it.
        auto [ctx, cancel] = goro::with_timeout(goro::background(), 20ms);
        auto r = co_await tcp_stream::connect(hole.addr, ctx);
        REQUIRE(r.error() == goro::context_errc::deadline_exceeded);
        REQUIRE(goro::net::is_timeout(r.error()));
        cancel();
    }
    co_return 0;
}

TEST_CASE("context: dial is woken by cancel; a context deadline is a dial timeout", "[net][ctx]") {
    for (unsigned procs : {1u, 4u}) run_or_skip(ctx_connect_main(), procs);
}

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

task<int> ctx_race_main(int rounds) {
    // Cancellation racing with completion: each read either gets the byte or
    // fails with canceled, and then the byte is still there. Nothing is lost,
    // nothing stays registered.
    auto p = co_await tcp_pair();
    for (int i = 0; i < rounds; ++i) {
        auto [ctx, cancel] = goro::with_cancel(goro::background());
        auto h = goro::spawn([](tcp_stream s, goro::context ctx) -> task<int> {
            char c = 0;
            auto r = co_await s.read(&c, 1, ctx);
            if (r) co_return *r == 1 && c == 'r' ? 1 : -1;
            co_return r.error() == goro::context_errc::canceled ? 0 : -2;
        }(p.client, ctx));
        switch (i % 3) {
            case 0: co_await goro::yield(); break;
            case 1: co_await goro_test::until_registered(ctx); break;
            default: break;
        }
        auto w = goro::spawn([](tcp_stream s) -> task<bool> { co_return static_cast<bool>(co_await s.write_all("r")); }(p.server));
        cancel();
        const int got = co_await std::move(h);
        REQUIRE(got >= 0);
        {
            auto wrote = co_await std::move(w);
            REQUIRE(wrote);
        }
        if (got == 0) {
            const char c = co_await next_byte(p.client);
            REQUIRE(c == 'r');
        }
        REQUIRE(ctx.debug_callbacks() == 0);
    }
    co_return 0;
}

TEST_CASE("context: cancellation racing with completion loses nothing [stress]", "[net][ctx][stress]") {
    for (unsigned procs : {1u, 2u, 4u}) run_or_skip(ctx_race_main(300 / goro_test::stress_divisor + 30), procs);
}

TEST_CASE("context: runtime shutdown with I/O parked under a context leaves nothing registered", "[net][ctx]") {
    if (g_no_uring) return;
    goro::context_and_cancel kept;
    auto main_task = [](goro::context_and_cancel* out) -> task<int> {
        *out = goro::with_cancel(goro::background());
        auto p = co_await tcp_pair();
        goro::go([](tcp_stream s, goro::context c) -> task<> { (void)co_await read_one(s, c); }(p.client, out->ctx));
        goro::go([](tcp_listener l, goro::context c) -> task<> { (void)co_await accept_one(l, c); }(p.listener, out->ctx));
        co_await goro_test::until_registered(out->ctx, 2);
        co_return static_cast<int>(out->ctx.debug_callbacks());
    };
    int registered = 0;
    try {
        registered = goro::run(main_task(&kept), {.procs = 2});
    } catch (const goro::startup_error& e) {
        WARN("SKIPPED: io_uring unavailable: " << e.what());
        return;
    }
    REQUIRE(registered == 2);
    REQUIRE(kept.ctx.debug_callbacks() == 0);
    kept.cancel();  // harmless: nothing registered any more
    REQUIRE(kept.ctx.err() == goro::context_errc::canceled);
}

// ---------------------------------------------------------------- io_uring unavailable

// A seccomp filter that fails io_uring_setup with EPERM (as a container
// runtime's default profile does) and allows everything else.
bool block_io_uring_setup() {
#if defined(__x86_64__)
    constexpr std::uint32_t arch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
    constexpr std::uint32_t arch = AUDIT_ARCH_AARCH64;
#else
    return false;
#endif
#if defined(__x86_64__) || defined(__aarch64__)
    sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, arch, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    sock_fprog prog{static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return false;
    return ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) == 0;
#endif
}

task<int> trivial_main() { co_return 0; }

task<int> netpoller_is_epoll() { co_return std::string_view(goro::netpoller()) == "epoll" ? 0 : 5; }

TEST_CASE("io_uring blocked by seccomp: goro::run uses epoll; forcing io_uring fails with a message saying why and what to do", "[net]") {
    if (g_no_uring) return;  // unavailable here already: nothing to provoke
    auto r = goro_test::run_in_child([] {
        if (!block_io_uring_setup()) return 77;
        ::unsetenv("GORO_NETPOLL");
        if (const int automatic = goro::run(netpoller_is_epoll(), {.procs = 2}); automatic != 0) return automatic;
        try {
            goro::run(trivial_main(), {.procs = 2, .netpoll = goro::netpoll_kind::io_uring});
        } catch (const goro::startup_error& e) {
            std::fprintf(stderr, "%s\n", e.what());
            return 3;
        }
        return 4;  // ran without io_uring?
    });
    if (r.exit_status == 77) {
        WARN("SKIPPED: cannot install a seccomp filter here");
        return;
    }
    INFO(r.stderr_text);
    REQUIRE_FALSE(r.timed_out);
    REQUIRE(r.exit_status == 3);
    using Catch::Matchers::Contains;
    REQUIRE_THAT(r.stderr_text, Contains("io_uring is unavailable"));
    REQUIRE_THAT(r.stderr_text, Contains("io_uring_setup failed: Operation not permitted"));
    REQUIRE_THAT(r.stderr_text, Contains("seccomp"));
    REQUIRE_THAT(r.stderr_text, Contains("allow the io_uring_setup, io_uring_enter and io_uring_register"));
}

TEST_CASE("net: outside a runtime an I/O call throws no_runtime", "[net]") {
    auto t = []() -> task<int> { co_return 0; };
    (void)t;
    goro::net::tcp_stream s;
    auto aw = s.read(nullptr, 0);
    REQUIRE_THROWS_AS(aw.await_suspend(std::noop_coroutine()), goro::no_runtime);
}

}  // namespace
