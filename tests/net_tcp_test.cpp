// goro::net TCP streams and listeners on the netpoller (io_uring or epoll):
// listen, accept, connect, read, write, close and half-close; host names
// resolved on the blocking pool (under a context or a connect timeout);
// "host:port" and ":port" listening as Go does; reads that fill their buffer
// exactly (docs/go-behaviours.md, section N, item 74).
//
// Assertions run only in the main task, after the tasks they check were
// joined; no co_await inside a REQUIRE (g++ 12: support/io_runtime.hpp).
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstddef>
#include <string>
#include <thread>

#include <goro/goro.hpp>
#include "support/io_runtime.hpp"

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

}  // namespace
