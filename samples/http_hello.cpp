// http_hello — an HTTP/1.1 "Hello, World!" server with keep-alive and
// pipelining, on goro::net and the goro::http request parser.
//
// Shows: an accept loop (goro::net::serve), a per-connection task that reads
// into a buffer, parses every complete request in it (goro::http), answers
// them all with one write, and closes on "Connection: close", on EOF or on
// malformed input (400 and friends). On Ctrl-C or SIGTERM it shuts down as
// Go's http.Server.Shutdown does: no new connections, idle keep-alive
// connections closed at once, requests being answered finished (5 s at
// most), exit 0.
//
// Run:  HTTP_ADDR=127.0.0.1:8080 build-release/samples/http_hello
//       curl -i http://127.0.0.1:8080/      wrk -t2 -c64 -d10s http://127.0.0.1:8080/
// Prints "listening <addr>" once listening (benchmarks/compare.py waits for
// it) and runs until Ctrl-C (SIGINT) or SIGTERM.
#include <goro/goro.hpp>
#include <goro/io/http1.hpp>

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

// One connection. `ctx` is done when the server shuts down: the read that
// waits for the next request gives up then; a response being written is
// finished.
goro::task<void> handle(goro::net::tcp_stream conn, goro::context ctx) {
    std::string in(goro::http::k_max_head_size + 1024, '\0');
    std::size_t have = 0;
    std::string out;
    char response[512];
    for (;;) {
        auto n = co_await conn.read(in.data() + have, in.size() - have, ctx);
        if (!n || *n == 0) break;
        have += *n;
        // Answer every complete request in the buffer (pipelining) at once.
        std::string_view unread(in.data(), have);
        bool keep_alive = true;
        out.clear();
        while (keep_alive) {
            goro::http::request req;
            std::size_t used = 0;
            const auto st = goro::http::parse_request(unread, req, used);
            if (st == goro::http::parse_status::incomplete) break;
            if (st != goro::http::parse_status::complete || req.chunked ||
                unread.size() - used < req.content_length) {
                if (st == goro::http::parse_status::complete) break;  // body not all here yet
                out += goro::http::error_response(st);
                keep_alive = false;
                break;
            }
            char extra[64];
            std::size_t extra_len = std::strlen(std::strcpy(extra, "Date: "));
            extra_len += goro::http::format_date(extra + extra_len, sizeof extra - extra_len, std::time(nullptr));
            std::memcpy(extra + extra_len, "\r\n", 2);
            extra_len += 2;
            if (req.keep_alive && req.version_minor == 0) {
                std::memcpy(extra + extra_len, "Connection: keep-alive\r\n", 24);
                extra_len += 24;
            }
            const std::size_t len = goro::http::format_response(
                response, sizeof response, 200, "", "text/plain", k_body, req.keep_alive,
                std::string_view(extra, extra_len));
            out.append(response, len);
            keep_alive = req.keep_alive;
            unread.remove_prefix(used + req.content_length);
        }
        if (!out.empty() && !(co_await conn.write_all(out))) break;
        if (!keep_alive) break;
        // Keep the unparsed tail at the front of the buffer.
        std::memmove(in.data(), unread.data(), unread.size());
        have = unread.size();
        if (have == in.size()) {  // a head larger than the parser allows
            auto w = co_await conn.write_all(goro::http::error_response(goro::http::parse_status::too_large));
            (void)w;
            break;
        }
    }
    (void)conn.close();
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
