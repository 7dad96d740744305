// Port of tzcnt/runtime-benchmarks' io_socket_st: a tiny HTTP-like server
// and its client in one program, over loopback TCP. The server accepts
// CONNECTIONS connections and runs one goroutine per connection that reads
// up to 4 KiB and answers each read with a fixed response, until the
// client closes; it counts the reads it answered. The client opens
// CONNECTIONS connections, one goroutine each, and sends REQUESTS requests
// in all (a fixed HEAD request; the share of each connection as the
// suite splits it): write the request, then one read of the response. Then
// it shuts the connection down and closes it. The server's counts must add
// up to REQUESTS; a mismatch or any failed read or write is reported and
// fails the program.
//
// The suite runs the server and the client on two single-threaded event
// loops (two threads); goro runs both in one runtime of two processors, its
// netpoller waking whichever goroutine a socket is ready for. As in the
// suite, the listener is open before the clock starts; the clock covers
// connecting, every request and the server's end. No warm-up (the suite has
// none for this benchmark).
//
// Usage: suite_io_socket_st [CONNECTIONS] [REQUESTS] (defaults 20 and
// 100,000; the suite passes its thread count as CONNECTIONS).
#include <goro/goro.hpp>

#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <string_view>
#include <vector>

#include "suite_util.hpp"

namespace {

// The suite's payloads, byte for byte (its response has bare \n line ends).
constexpr std::string_view k_response =
    "HTTP/1.1 200 OK\n"
    "Content-Length: 12\n"
    "Content-Type: text/plain; charset=utf-8\n"
    "\n"
    "Hello World!";
constexpr std::string_view k_request = "HEAD / HTTP/1.1\r\nHost: host:port\r\nConnection: close\r\n\r\n";
constexpr unsigned k_procs = 2;  // the suite's two event-loop threads

std::atomic<int> g_failures{0};

/// One server connection: answer every read until EOF or an error; returns
/// the number of reads answered.
goro::task<std::size_t> serve_conn(goro::net::tcp_stream conn) {
    char buf[4096];
    std::size_t served = 0;
    for (;;) {
        const auto n = co_await conn.read(buf, sizeof buf);
        if (!n) {
            std::printf("FAIL in server: read: %s\n", n.error().message().c_str());
            g_failures.fetch_add(1, std::memory_order_relaxed);
            break;
        }
        if (*n == 0) break;  // the client closed its side: done
        const auto w = co_await conn.write_all(k_response);
        if (!w) {
            std::printf("FAIL in server: write: %s\n", w.error().message().c_str());
            g_failures.fetch_add(1, std::memory_order_relaxed);
            break;
        }
        ++served;
    }
    (void)conn.close();
    co_return served;
}

/// Accepts `connections` connections, serves each in its own goroutine,
/// and returns the requests served in all.
goro::task<std::size_t> server(goro::net::tcp_listener listener, std::size_t connections) {
    std::vector<goro::join_handle<std::size_t>> handlers;
    handlers.reserve(connections);
    for (std::size_t i = 0; i < connections; ++i) {
        auto conn = co_await listener.accept();
        if (!conn) {
            std::printf("FAIL in accept: %s\n", conn.error().message().c_str());
            g_failures.fetch_add(1, std::memory_order_relaxed);
            break;
        }
        handlers.push_back(goro::spawn(serve_conn(std::move(*conn))));
    }
    (void)listener.close();
    std::size_t total = 0;
    for (auto& h : handlers) total += co_await std::move(h);
    co_return total;
}

/// One client connection: `count` request/response exchanges.
goro::task<void> client_conn(goro::net::address addr, std::size_t count) {
    auto conn = co_await goro::net::tcp_stream::connect(addr);
    if (!conn) {
        std::printf("FAIL in client: connect: %s\n", conn.error().message().c_str());
        g_failures.fetch_add(1, std::memory_order_relaxed);
        co_return;
    }
    char buf[4096];
    for (std::size_t i = 0; i < count; ++i) {
        const auto w = co_await conn->write_all(k_request);
        if (!w) {
            std::printf("FAIL in client: finished early: write: %s\n", w.error().message().c_str());
            g_failures.fetch_add(1, std::memory_order_relaxed);
            break;
        }
        const auto n = co_await conn->read(buf, sizeof buf);
        if (!n || *n == 0) {
            std::printf("FAIL in client: finished early: read: %s\n",
                        n ? "end of stream" : n.error().message().c_str());
            g_failures.fetch_add(1, std::memory_order_relaxed);
            break;
        }
    }
    (void)conn->shutdown(SHUT_RDWR);
    (void)conn->close();
}

/// Opens the connections and splits the requests over them as the suite does.
goro::task<void> client(goro::net::address addr, std::size_t connections, std::size_t requests) {
    const std::size_t per_task = requests / connections;
    const std::size_t rem = requests % connections;
    std::vector<goro::join_handle<void>> clients;
    clients.reserve(connections);
    for (std::size_t i = 0; i < connections; ++i)
        clients.push_back(goro::spawn(client_conn(addr, i < rem ? per_task + 1 : per_task)));
    for (auto& c : clients) co_await std::move(c);
}

goro::task<int> bench_main(std::size_t connections, std::size_t requests) {
    auto listener = goro::net::tcp_listener::listen("127.0.0.1:0");
    if (!listener) {
        std::printf("FAIL: listen: %s\n", listener.error().message().c_str());
        co_return 1;
    }
    const auto addr = listener->local_address();
    if (!addr) {
        std::printf("FAIL: local address: %s\n", addr.error().message().c_str());
        co_return 1;
    }
    // The server gets a handle of its own; this one closes the listener if
    // the client failed, so that a server still waiting in accept for a
    // connection that never came returns (and the program fails, not hangs).
    auto served = goro::spawn(server(*listener, connections));

    const auto start = std::chrono::steady_clock::now();
    co_await client(*addr, connections, requests);
    if (g_failures.load(std::memory_order_relaxed) != 0) (void)listener->close();
    const std::size_t total = co_await std::move(served);
    const auto end = std::chrono::steady_clock::now();

    if (total != requests) {
        std::printf("FAIL: expected %zu requests but served %zu\n", requests, total);
        co_return 1;
    }
    if (g_failures.load(std::memory_order_relaxed) != 0) co_return 1;
    const long long us = suite::micros(start, end);
    std::printf("connections: %zu\n", connections);
    std::printf("runs:\n");
    std::printf("  - iteration_count: 1\n");
    std::printf("    requests: %zu\n", requests);
    std::printf("    requests/sec: %lld\n", static_cast<long long>(requests) * 1'000'000 / (us > 0 ? us : 1));
    suite::print_duration_rss(us);
    co_return 0;
}

/// A positive count from argv, or the default.
std::size_t count_arg(int argc, char** argv, int i, std::size_t fallback, const char* what) {
    if (argc <= i) return fallback;
    const long long v = std::atoll(argv[i]);
    if (v < 1 || v > 100'000'000) {
        std::fprintf(stderr, "usage: suite_io_socket_st [CONNECTIONS] [REQUESTS]: %s must be in 1..100000000\n", what);
        std::exit(2);
    }
    return static_cast<std::size_t>(v);
}

}  // namespace

int main(int argc, char** argv) {
    const std::size_t connections = count_arg(argc, argv, 1, 20, "CONNECTIONS");
    const std::size_t requests = count_arg(argc, argv, 2, 100'000, "REQUESTS");
    if (connections > requests) {
        std::fprintf(stderr, "suite_io_socket_st: CONNECTIONS must not exceed REQUESTS\n");
        return 2;
    }
    return goro::run(bench_main(connections, requests), {.procs = k_procs});
}
