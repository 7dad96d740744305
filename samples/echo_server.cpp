// echo_server — a TCP echo server: one task per connection, each blocked in
// read() without holding a thread (the io_uring netpoller parks it).
//
// Shows: tcp_listener::listen, goro::net::serve (an accept loop that backs
// off on EMFILE instead of dying), read / write_all, EOF as a 0-byte read,
// a read deadline that drops idle clients, and a graceful stop on Ctrl-C
// (goro::signal::notify_context, Go's signal.NotifyContext): no new
// clients, the connected ones are told through their context, and the
// program exits 0 once they are gone (at most 5 s later).
//
// Run:  build-release/samples/echo_server [host:port]     (default 127.0.0.1:7000)
//       then: build-release/samples/echo_client 127.0.0.1:7000   (or nc 127.0.0.1 7000)
// Stops with Ctrl-C (SIGINT) or SIGTERM.
#include <goro/goro.hpp>

#include <signal.h>

#include <chrono>
#include <cstdio>
#include <string>

using namespace std::chrono_literals;

namespace {

// One client. `ctx` is done when the server shuts down: the read waiting
// for the client's next line gives up then.
goro::task<void> echo(goro::net::tcp_stream conn, goro::context ctx) {
    const std::string peer = conn.peer_address() ? conn.peer_address()->to_string() : "?";
    std::printf("%s connected\n", peer.c_str());
    std::fflush(stdout);
    char buf[4096];
    for (;;) {
        // Go's conn.SetReadDeadline(time.Now().Add(5 * time.Minute)).
        conn.set_read_deadline(std::chrono::steady_clock::now() + 5min);
        auto n = co_await conn.read(buf, sizeof buf, ctx);
        if (!n) {
            std::printf("%s: %s\n", peer.c_str(), n.error().message().c_str());
            break;
        }
        if (*n == 0) break;  // the client closed its side
        auto w = co_await conn.write_all(buf, *n);
        if (!w) {
            std::printf("%s: %s\n", peer.c_str(), w.error().message().c_str());
            break;
        }
    }
    (void)conn.close();
    std::printf("%s gone\n", peer.c_str());
    std::fflush(stdout);
}

goro::task<int> main_task(std::string addr) {
    // Before listening, so that a signal that comes as soon as we say
    // "listening" is already ours. `stop` restores the default handling
    // when main_task ends (Go's `defer stop()`).
    auto [ctx, stop] = goro::signal::notify_context(goro::background(), {SIGINT, SIGTERM});
    auto listener = goro::net::tcp_listener::listen(addr);
    if (!listener) {
        std::fprintf(stderr, "echo_server: listen %s: %s\n", addr.c_str(), listener.error().message().c_str());
        co_return 1;
    }
    std::printf("listening %s\n", listener->local_address()->to_string().c_str());
    std::printf("press Ctrl-C to stop\n");
    std::fflush(stdout);
    auto served = co_await goro::net::serve(*listener, ctx, 5s, echo);
    std::printf("stopped (%s)\n", goro::cause(ctx).message().c_str());
    if (!served && served.error() == goro::context_errc::deadline_exceeded) {
        std::fprintf(stderr, "echo_server: clients still busy after 5 s were disconnected\n");
        co_return 1;
    }
    if (!served) {
        std::fprintf(stderr, "echo_server: %s\n", served.error().message().c_str());
        co_return 1;
    }
    co_return 0;
}

}  // namespace

int main(int argc, char** argv) {
    return goro::run(main_task(argc > 1 ? argv[1] : "127.0.0.1:7000"));
}
