// goro::net UDP and Unix sockets: send_to, recv_from, connected send/recv
// and a deadline on UDP; listen, accept, connect, read and write on path and
// abstract Unix sockets; a task whose operations never wait (UDP sends)
// still yields its processor.
//
// Assertions run only in the main task, after the tasks they check were
// joined; no co_await inside a REQUIRE (g++ 12: support/io_runtime.hpp).
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <string>

#include <goro/goro.hpp>
#include "support/io_runtime.hpp"

using namespace std::chrono_literals;
using goro::task;
using goro::net::tcp_listener;
using goro::net::tcp_stream;
using goro::result;
using goro::net::address;

namespace {

using goro_test::run_or_skip;


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

}  // namespace
