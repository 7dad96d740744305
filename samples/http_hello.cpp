// http_hello — an HTTP/1.1 "Hello, World!" server with keep-alive and
// pipelining, on goro::net and the goro::http request parser.
//
// Shows: an accept loop (goro::net::serve) and, per connection, goro::http's
// server (io/http1_server.hpp) calling a handler for each request. The server
// does what one facing the internet must (bodies, chunked or not, under a
// size limit; Expect: 100-continue; header and idle timeouts against slow
// clients; a lingering close after error responses; 400 and friends for
// malformed input), so the handler only answers.
// On Ctrl-C or SIGTERM it shuts down as Go's http.Server.Shutdown does: no
// new connections, idle keep-alive connections closed at once, requests
// being answered finished (5 s at most), exit 0.
//
// Run:  HTTP_ADDR=127.0.0.1:8080 build-release/samples/http_hello
//       curl -i http://127.0.0.1:8080/      wrk -t2 -c64 -d10s http://127.0.0.1:8080/
// Prints "listening <addr>" once listening (benchmarks/compare.py waits for
// it) and runs until Ctrl-C (SIGINT) or SIGTERM.
#include <goro/goro.hpp>
#include <goro/io/http1.hpp>
#include <goro/io/http1_server.hpp>

#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <string_view>

namespace {

constexpr std::string_view k_body = "Hello, World!";

// Every request gets "Hello, World!". A body the handler does not read is
// skipped (or refused with 413 past the server's limit) by the server.
goro::task<void> hello(const goro::http::request&, goro::http::body&, goro::http::response& resp) {
    resp.content_type = "text/plain";
    resp.body = k_body;
    co_return;
}

// One connection: goro::http's connection loop with the default options
// (10 s to send a head, 120 s idle between requests, bodies up to 1 MiB:
// goro::http::server_options). `ctx` is done when the server shuts down: a
// connection waiting for its next request closes then. Not a coroutine
// itself: it hands the connection to serve_conn's task as it is.
GORO_CORO_WRAPPER goro::task<void> handle(goro::net::tcp_stream conn, goro::context ctx) {
    return goro::http::serve_conn(std::move(conn), hello, {}, std::move(ctx));
}

goro::task<int> main_task() {
    // First, so that a signal that comes as soon as we say "listening" is ours.
    auto [ctx, stop] = goro::signal::notify_context(goro::background(), {SIGINT, SIGTERM});
    const char* env = std::getenv("HTTP_ADDR");
    const std::string addr = env && *env ? env : "127.0.0.1:8080";
    auto listener = goro::net::tcp_listener::listen(addr);
    if (!listener) {
        std::fprintf(stderr, "http_hello: listen %s: %s\n", addr.c_str(), listener.error().message().c_str());
        co_return 1;
    }
    std::printf("listening %s\n", listener->local_address()->to_string().c_str());
    std::printf("press Ctrl-C to stop\n");
    std::fflush(stdout);
    auto served = co_await goro::net::serve(*listener, ctx, std::chrono::seconds(5), handle);
    std::printf("stopped (%s)\n", goro::cause(ctx).message().c_str());
    if (!served && served.error() == goro::context_errc::deadline_exceeded) {
        std::fprintf(stderr, "http_hello: connections still busy after 5 s were closed\n");
        co_return 1;
    }
    if (!served) {
        std::fprintf(stderr, "http_hello: %s\n", served.error().message().c_str());
        co_return 1;
    }
    co_return 0;
}

}  // namespace

int main() { return goro::run(main_task()); }
