// goro::net stream operations under a goro::context (socket.hpp): read,
// read_exact, write, write_all, accept (TCP and Unix), Unix connect and dial
// are woken by cancel and by a context deadline; cancellation racing with
// completion loses nothing; runtime shutdown with I/O parked under a context
// leaves nothing registered. UDP under a context: net_context_udp_test.cpp.
//
// Every blocking operation takes a goro::context: cancelling it (or its
// deadline passing) wakes the blocked operation with exactly ctx.err(); a
// context already done fails at once without I/O; a completed operation
// leaves nothing registered with its context (cancelling afterwards would
// call into a dead frame: ASan catches that, debug_callbacks() counts it).
//
// Assertions run only in the main task, after the tasks they check were
// joined; no co_await inside a REQUIRE (g++ 12: support/io_runtime.hpp).
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include <goro/goro.hpp>
#include "support/io_runtime.hpp"
#include "support/ctx_check.hpp"
#include "support/net_helpers.hpp"

using namespace std::chrono_literals;
using goro::task;
using goro::net::tcp_listener;
using goro::net::tcp_stream;
using goro::result;
using goro::net::address;

namespace {

using goro_test::g_no_uring;
using goro_test::run_or_skip;
using goro_test::small_buffers;
using goro_test::tcp_pair;
using goro_test::write_all_big;

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

}  // namespace
