// tcp_echo: an echo server and its clients in one program, over loopback —
// the twin of benchmarks/peers/go/tcp_echo/main.go, doing the same work.
//
// The server listens on 127.0.0.1:0 and runs one task per accepted
// connection that reads into a 4 KiB buffer and writes back what it read.
// 64 client connections are dialled first (TCP_NODELAY, as Go); then the
// clock starts and each client task does 10,000 round trips: write a
// 64-byte message, read exactly 64 bytes back, check they match. The clock
// stops when all clients are done. One timed run, no warm-up.
//
// Prints: tcp_echo <round trips per second = 640,000 / elapsed> req/s
// Processors: GORO_MAXPROCS (default: the usable CPUs).
// TCP_ECHO_TRIPS=N makes each client do N round trips instead (a smaller
// run, for instruction counts under valgrind --tool=callgrind).
// TCP_ECHO_DEADLINE=1: the server arms a read deadline 5 minutes ahead
// before every read, as samples/echo_server does (Go's SetReadDeadline);
// the figure is then named tcp_echo_deadline. TCP_ECHO_DEADLINE=ctx also
// passes a cancellable context to each read, as that sample does (Go's
// Read takes none: this mode has no Go twin; for instruction counts).
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>

#include <goro/goro.hpp>

namespace {

constexpr int k_conns = 64;
int k_trips = 10'000;  // TCP_ECHO_TRIPS overrides it (see the file comment)
bool g_deadline = false;  // TCP_ECHO_DEADLINE (see the file comment)
bool g_ctx = false;
constexpr std::size_t k_msg = 64;

std::atomic<int> g_failures{0};

// The plain echo server's connection handler; the deadline modes use
// echo_with_deadline below (kept apart so that the plain row's loop is
// exactly what it was).
goro::task<void> echo(goro::net::tcp_stream c) {
    char buf[4096];
    for (;;) {
        auto n = co_await c.read(buf, sizeof buf);
        if (!n || *n == 0) break;
        auto w = co_await c.write_all(buf, *n);
        if (!w) break;
    }
    (void)c.close();
}

goro::task<void> echo_with_deadline(goro::net::tcp_stream c) {
    char buf[4096];
    auto [ctx, cancel] = goro::with_cancel(goro::background());
    for (;;) {
        c.set_read_deadline(std::chrono::steady_clock::now() + std::chrono::minutes(5));
        goro::result<std::size_t> n = goro::result<std::size_t>(0);
        if (g_ctx) {
            n = co_await c.read(buf, sizeof buf, ctx);
        } else {
            n = co_await c.read(buf, sizeof buf);
        }
        if (!n || *n == 0) break;
        auto w = co_await c.write_all(buf, *n);
        if (!w) break;
    }
    (void)c.close();
}

goro::task<void> client(int id, goro::net::tcp_stream c) {
    unsigned char out[k_msg];
    unsigned char in[k_msg];
    for (int r = 0; r < k_trips; ++r) {
        for (std::size_t k = 0; k < k_msg; ++k) out[k] = static_cast<unsigned char>(id * 31 + r + static_cast<int>(k));
        auto w = co_await c.write_all(out, k_msg);
        if (!w) {
            std::fprintf(stderr, "tcp_echo: conn %d write: %s\n", id, w.error().message().c_str());
            g_failures.fetch_add(1);
            co_return;
        }
        auto rd = co_await c.read_exact(in, k_msg);
        if (!rd) {
            std::fprintf(stderr, "tcp_echo: conn %d read: %s\n", id, rd.error().message().c_str());
            g_failures.fetch_add(1);
            co_return;
        }
        if (std::memcmp(in, out, k_msg) != 0) {
            std::fprintf(stderr, "tcp_echo: conn %d round %d: echo mismatch\n", id, r);
            g_failures.fetch_add(1);
            co_return;
        }
    }
}

goro::task<int> bench() {
    auto l = goro::net::tcp_listener::listen("127.0.0.1:0");
    if (!l) {
        std::fprintf(stderr, "tcp_echo: listen: %s\n", l.error().message().c_str());
        co_return 1;
    }
    const auto addr = l->local_address().value();
    auto server = goro::spawn(g_deadline ? goro::net::serve(*l, echo_with_deadline) : goro::net::serve(*l, echo));

    std::vector<goro::net::tcp_stream> cs;
    for (int i = 0; i < k_conns; ++i) {
        auto c = co_await goro::net::tcp_stream::connect(addr);
        if (!c) {
            std::fprintf(stderr, "tcp_echo: dial: %s\n", c.error().message().c_str());
            co_return 1;
        }
        cs.push_back(std::move(*c));
    }
    const auto start = std::chrono::steady_clock::now();
    std::vector<goro::join_handle<void>> hs;
    for (int i = 0; i < k_conns; ++i) hs.push_back(goro::spawn(client(i, cs[i])));
    for (auto& h : hs) co_await std::move(h);
    const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (g_failures.load() != 0) co_return 1;
    for (auto& c : cs) (void)c.close();
    (void)l->close();
    auto served = co_await std::move(server);
    if (!served) {
        std::fprintf(stderr, "tcp_echo: serve: %s\n", served.error().message().c_str());
        co_return 1;
    }
    std::printf("%s %.2f req/s\n", g_deadline ? "tcp_echo_deadline" : "tcp_echo", static_cast<double>(k_conns) * k_trips / el);
    co_return 0;
}

}  // namespace

int main() {
    if (const char* t = std::getenv("TCP_ECHO_TRIPS")) {
        const int n = std::atoi(t);
        if (n <= 0) {
            std::fprintf(stderr, "tcp_echo: TCP_ECHO_TRIPS must be a positive number, not \"%s\"\n", t);
            return 1;
        }
        k_trips = n;
    }
    if (const char* d = std::getenv("TCP_ECHO_DEADLINE"); d && *d) {
        const std::string_view v = d;
        if (v != "1" && v != "ctx") {
            std::fprintf(stderr, "tcp_echo: TCP_ECHO_DEADLINE must be 1 or ctx, not \"%s\"\n", d);
            return 1;
        }
        g_deadline = true;
        g_ctx = v == "ctx";
    }
    try {
        return goro::run(bench());
    } catch (const goro::startup_error& e) {
        std::fprintf(stderr, "tcp_echo: %s\n", e.what());
        return 1;
    }
}
