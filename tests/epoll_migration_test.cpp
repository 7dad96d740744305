// Stress tests of the epoll driver's migration (io/detail/epoll_driver.hpp,
// "Migration"): a file is homed on the processor where it first waited and
// moves to another processor's epoll once its waits keep coming from there.
// Tasks here hop between processors on purpose (goro::yield sends a task to
// the global queue, where any processor may take it), so files migrate
// again and again while edges arrive, while other tasks close them, and while
// their descriptor numbers are reused.
//
// What must hold, whatever the interleaving: every byte echoed arrives, in
// order; a read parked on a closed file ends with errc::closed; no wake-up is
// lost (the watchdog turns a hang into a failure); and the migrations did
// happen (the driver's count rises), so the test exercises what it names.
// The epoll driver is forced through options::netpoll: this binary tests it
// whatever io_uring can do here.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>

#include <goro/goro.hpp>
#include <goro/io/detail/epoll_driver.hpp>

#include "support/io_runtime.hpp"
#include "support/watchdog.hpp"

using namespace std::chrono_literals;
using goro::task;
using goro::net::tcp_listener;
using goro::net::tcp_stream;

namespace {

// Echoes 8-byte messages, hopping to another processor between the read and
// the write, until EOF.
task<void> hopping_echo(tcp_stream c) {
    char msg[8];
    for (;;) {
        auto r = co_await c.read_exact(msg, sizeof msg);
        if (!r) co_return;
        co_await goro::yield();
        auto w = co_await c.write_all(msg, sizeof msg);
        if (!w) co_return;
    }
}

// One client: `rounds` numbered messages, each checked when it comes back;
// it hops between the write and the read. Adds its failures to *bad.
task<void> hopping_client(goro::net::address addr, int id, int rounds, std::atomic<int>* bad) {
    auto c = co_await tcp_stream::connect(addr);
    if (!c) {
        bad->fetch_add(1);
        co_return;
    }
    for (int i = 0; i < rounds; ++i) {
        const std::uint64_t sent = (static_cast<std::uint64_t>(id) << 32) | static_cast<std::uint32_t>(i);
        char out[8];
        std::memcpy(out, &sent, sizeof out);
        auto w = co_await c->write_all(out, sizeof out);
        co_await goro::yield();
        char in[8];
        auto r = co_await c->read_exact(in, sizeof in);
        std::uint64_t got = 0;
        std::memcpy(&got, in, sizeof got);
        if (!w || !r || got != sent) {
            bad->fetch_add(1);
            co_return;
        }
    }
    (void)c->close();
}

task<int> echo_main(int pairs, int rounds) {
    auto l = tcp_listener::listen("127.0.0.1:0").value();
    const auto addr = l.local_address().value();
    goro::go(goro::net::serve(l, hopping_echo));
    std::atomic<int> bad{0};
    goro::group clients;
    for (int id = 0; id < pairs; ++id) clients.go(hopping_client(addr, id, rounds, &bad));
    co_await clients.wait();
    (void)l.close();
    co_return bad.load();
}

// A reader parks on a connection nobody writes to; a closer, started on
// whichever processor takes it, hops and closes it. The reader must end with
// errc::closed (never hang, never see another file's data: the numbers are
// reused at once by the next round's sockets).
task<int> close_main(int rounds) {
    auto l = tcp_listener::listen("127.0.0.1:0").value();
    const auto addr = l.local_address().value();
    int wrong = 0;
    for (int i = 0; i < rounds; ++i) {
        auto accepted = goro::spawn([](tcp_listener lst) -> task<tcp_stream> {
            co_return (co_await lst.accept()).value();
        }(l));
        auto client = (co_await tcp_stream::connect(addr)).value();
        auto server = co_await std::move(accepted);
        auto reader = goro::spawn([](tcp_stream s) -> task<bool> {
            char b[16];
            for (int hop = 0; hop < 3; ++hop) co_await goro::yield();
            auto n = co_await s.read(b, sizeof b);
            co_return !n && n.error() == goro::net::errc::closed;
        }(server));
        goro::go([](tcp_stream s) -> task<void> {
            for (int hop = 0; hop < 4; ++hop) co_await goro::yield();
            (void)s.close();
        }(server));
        const bool closed = co_await std::move(reader);
        if (!closed) ++wrong;
        (void)client.close();
    }
    (void)l.close();
    co_return wrong;
}

}  // namespace

TEST_CASE("epoll: files migrate between processors while echoing; no byte or wake-up is lost", "[epoll][stress]") {
    goro_test::watchdog dog("epoll migration echo", 300s);
    const int rounds = 2000 / goro_test::stress_divisor;
    for (unsigned procs : {2u, 4u}) {
        INFO("procs " << procs);
        const std::uint64_t before = goro::detail::epoll_migrations();
        const int bad = goro::run(echo_main(16, rounds), goro_test::epoll_options(procs));
        REQUIRE(bad == 0);
        // The files did move: otherwise this test would not test migration.
        REQUIRE(goro::detail::epoll_migrations() > before);
    }
}

TEST_CASE("epoll: a read parked on a file that migrates and is closed ends with errc::closed", "[epoll][stress]") {
    goro_test::watchdog dog("epoll migration close", 300s);
    const int rounds = 3000 / goro_test::stress_divisor;
    for (unsigned procs : {2u, 4u}) {
        INFO("procs " << procs);
        REQUIRE(goro::run(close_main(rounds), goro_test::epoll_options(procs)) == 0);
    }
}
