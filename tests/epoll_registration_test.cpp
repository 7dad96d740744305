// Tests of the epoll driver's registrations (io/detail/epoll_driver.hpp,
// "Registrations"): a file keeps its registration while it lives, and one
// that outlives its runtime keeps a record whose epoll is gone (its home was
// destroyed). The next runtime that waits on the file must drop that record
// and register the file with its own epoll (the driver checks the record's
// home under the record's lock when an operation starts), so that the
// file's reads, writes and closes work there as on a fresh file.
// The epoll driver is forced through options::netpoll: this binary tests it
// whatever io_uring can do here.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstring>
#include <optional>
#include <utility>

#include <goro/goro.hpp>

#include "support/io_runtime.hpp"
#include "support/watchdog.hpp"

using namespace std::chrono_literals;
using goro::task;
using goro::net::tcp_listener;
using goro::net::tcp_stream;

namespace {

struct kept_pair {
    std::optional<tcp_stream> client;
    std::optional<tcp_stream> server;
};

// Reads `len` bytes from `s`; returns them, or the error's message.
task<std::string> read_bytes(tcp_stream s, std::size_t len) {
    std::string got(len, '\0');
    auto r = co_await s.read_exact(got.data(), len);
    if (!r) co_return "read failed: " + r.error().message();
    co_return got;
}

// Reads `text` from `from` while `to` writes it after a hop, so that the
// read may have to wait. True when it arrived intact. (The handles are taken
// by reference: g++ 12 at -O2 lost the caller's tcp_stream on the second
// call of this loop when they were taken by value.)
task<bool> echo_once(const tcp_stream& from, const tcp_stream& to, const char* text) {
    const std::size_t n = std::strlen(text);
    auto reader = goro::spawn(read_bytes(from, n));
    co_await goro::yield();
    auto w = co_await to.write_all(text, n);
    const std::string got = co_await std::move(reader);
    co_return w && got == text;
}

// Runtime 1: a connected pair, registered with this runtime's epoll by a
// round trip each way; both ends are kept past the runtime's end.
task<int> first_runtime(kept_pair* out) {
    auto l = tcp_listener::listen("127.0.0.1:0").value();
    const auto addr = l.local_address().value();
    auto accepted = goro::spawn([](tcp_listener lst) -> task<tcp_stream> {
        co_return (co_await lst.accept()).value();
    }(l));
    auto client = (co_await tcp_stream::connect(addr)).value();
    auto server = co_await std::move(accepted);
    (void)l.close();
    const bool there = co_await echo_once(server, client, "first hello");
    const bool back = co_await echo_once(client, server, "first reply");
    out->client = client;
    out->server = server;
    co_return there && back ? 0 : 1;
}

// Runtime 2: the same files, whose records' epoll is gone, wait and echo
// here; then a read parked on one of them ends with errc::closed when it is
// closed.
task<int> second_runtime(kept_pair* kept) {
    tcp_stream client = *kept->client;
    tcp_stream server = *kept->server;
    int bad = 0;
    for (int i = 0; i < 3; ++i) {
        // Awaited into named results (g++ 12 miscompiles some co_await
        // shapes inside conditions, see the project's style guide).
        const bool there = co_await echo_once(server, client, "second hello");
        const bool back = co_await echo_once(client, server, "second reply");
        if (!there || !back) ++bad;
    }
    auto reader = goro::spawn([](tcp_stream s) -> task<bool> {
        char b[16];
        auto n = co_await s.read(b, sizeof b);
        co_return !n && n.error() == goro::net::errc::closed;
    }(server));
    co_await goro::yield();
    (void)server.close();
    const bool closed = co_await std::move(reader);
    if (!closed) ++bad;
    (void)client.close();
    co_return bad;
}

}  // namespace

TEST_CASE("epoll: a file that outlived its runtime is registered again by the next one", "[epoll]") {
    goro_test::watchdog dog("epoll registration across runtimes", 120s);
    for (unsigned procs : {1u, 2u}) {
        INFO("procs " << procs);
        kept_pair kept;
        REQUIRE(goro::run(first_runtime(&kept), goro_test::epoll_options(procs)) == 0);
        REQUIRE(goro::run(second_runtime(&kept), goro_test::epoll_options(procs)) == 0);
    }
}
