// Tests for goro::http's server (io/http1_server.hpp): the header and idle
// timeouts against slow clients, and the lingering close.
//
// Behaviour only, never latency: each timeout is configured short and the
// test asserts that the connection was closed, and how (no answer, a clean
// end of stream rather than a reset); the clients' hang guard
// (goro_test::k_http_hang_guard) is far above every timeout, so a server that
// fails to act shows up as ending::timeout, not as a hang. The short sleeps in
// the slow clients are what those clients do (send a byte, wait), not waits
// for the server. Assertions in the main task only (see http1_server_test.cpp).
#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "support/http_client.hpp"
#include "support/io_runtime.hpp"

using namespace std::chrono_literals;
using goro::result;
using goro::task;
using goro::net::tcp_stream;
namespace http = goro::http;
using goro_test::ending;
using goro_test::read_reply;
using goro_test::read_to_end;

namespace {

// Sends `head`, then one more byte of a header value every 20 ms until the
// connection fails, `stop` is set, or 1000 bytes went (20 s, under the hang
// guard; a head of ~1 KiB, far under the parser's limit). Returns the bytes
// dribbled.
task<int> dribble(tcp_stream c, std::string head, std::shared_ptr<std::atomic<bool>> stop) {
    auto w = co_await c.write_all(head);
    if (!w) co_return 0;
    int sent = 0;
    for (; sent < 1000 && !stop->load(); ++sent) {
        auto one = co_await c.write_all("a");
        if (!one) break;
        co_await goro::sleep(20ms);
    }
    co_return sent;
}

// Writes `total` bytes in 64 KiB pieces: the first error, or success.
task<result<void>> upload(tcp_stream c, std::size_t total) {
    const std::string piece(64 * 1024, 'u');
    for (std::size_t sent = 0; sent < total; sent += piece.size()) {
        auto w = co_await c.write_all(piece);
        if (!w) co_return w.error();
    }
    co_return result<void>{};
}

task<void> slowloris_main() {
    http::server_options opts;
    opts.read_header_timeout = 300ms;
    opts.idle_timeout = 60s;
    auto srv = goro_test::start_server(opts);
    {
        // Dribbling a head: every read brings a byte, but the deadline runs
        // from the request's first byte: closed, without an answer.
        auto c = co_await goro_test::dial(srv.addr);
        auto stop = std::make_shared<std::atomic<bool>>(false);
        auto writer = goro::spawn(dribble, c, std::string("GET /hello HTTP/1.1\r\nHost: x\r\nX-Slow: "), stop);
        std::string buf;
        const ending e = co_await read_to_end(c, buf);
        stop->store(true);
        const int sent = co_await std::move(writer);
        CHECK((e == ending::eof || e == ending::reset));
        CHECK(buf.empty());
        CHECK(sent < 1000);  // the server closed while the client was still sending
    }
    {
        // A connection that sends nothing at all: the same (Go's
        // ReadHeaderTimeout runs from the start for the first request).
        auto c = co_await goro_test::dial(srv.addr);
        std::string buf;
        const ending e = co_await read_to_end(c, buf);
        CHECK((e == ending::eof || e == ending::reset));
        CHECK(buf.empty());
    }
    {
        // The header deadline ends with the head: a body that comes later
        // than read_header_timeout after it is still read (/gate holds the
        // handler until the client has waited that long).
        auto c = co_await goro_test::dial(srv.addr);
        auto w = co_await c.write_all("POST /gate HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n");
        REQUIRE(w);
        auto entered = co_await srv.probe->gate_entered.recv();
        REQUIRE(entered);
        co_await goro::sleep(2 * opts.read_header_timeout);
        co_await srv.probe->gate_open.send(1);
        co_await goro::sleep(2 * opts.read_header_timeout);
        auto w2 = co_await c.write_all("body");
        REQUIRE(w2);
        std::string buf;
        auto r = co_await read_reply(c, buf);
        REQUIRE(r);
        CHECK(r->status == 200);
        CHECK(r->body == "body");
    }
    srv.stop();
}

task<void> idle_main() {
    http::server_options opts;
    opts.read_header_timeout = 60s;
    opts.idle_timeout = 300ms;
    auto srv = goro_test::start_server(opts);
    auto c = co_await goro_test::dial(srv.addr);
    auto w = co_await c.write_all("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    REQUIRE(w);
    std::string buf;
    auto r = co_await read_reply(c, buf);
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK_FALSE(r->closes());
    // Kept alive, then idle past idle_timeout: closed without a word.
    const ending e = co_await read_to_end(c, buf);
    CHECK(e == ending::eof);
    CHECK(buf.empty());
    srv.stop();
}

// A client uploading a body over the limit: it gets its 413 while still
// sending, and (lingering close) can finish sending without a reset.
task<void> linger_main() {
    http::server_options opts;
    opts.max_body_bytes = 1024;
    opts.linger_timeout = 60s;              // bounded by the client here
    opts.linger_max_bytes = 256u << 20;
    auto srv = goro_test::start_server(opts);
    constexpr std::size_t k_upload = 16u << 20;  // more than loopback's socket buffers hold
    auto c = co_await goro_test::dial(srv.addr);
    auto w = co_await c.write_all("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(k_upload) +
                                  "\r\n\r\n");
    REQUIRE(w);
    auto writer = goro::spawn(upload, c, k_upload);
    std::string buf;
    auto r = co_await read_reply(c, buf);
    REQUIRE(r);
    CHECK(r->status == 413);
    CHECK(r->closes());
    // The server shut down its side after the response: a clean end of
    // stream, while it still reads what the client sends.
    const ending e = co_await read_to_end(c, buf);
    CHECK(e == ending::eof);
    auto sent = co_await std::move(writer);
    CHECK(sent);  // all of it: the server drained, nothing was reset
    if (!sent) WARN("upload failed: " << sent.error().message());
    CHECK(srv.probe->calls.load() == 0);
    srv.stop();
}

// The same client against a server that does not linger: its upload is reset
// (what the lingering close is for; Linux resets a connection closed with
// unread input, RFC 2525 section 2.17).
task<void> no_linger_main() {
    http::server_options opts;
    opts.max_body_bytes = 1024;
    opts.linger_timeout = 0s;
    auto srv = goro_test::start_server(opts);
    auto c = co_await goro_test::dial(srv.addr);
    auto w = co_await c.write_all("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 16777216\r\n\r\n");
    REQUIRE(w);
    auto writer = goro::spawn(upload, c, std::size_t{16} << 20);
    auto sent = co_await std::move(writer);
    REQUIRE_FALSE(sent);
    CHECK_FALSE(goro::net::is_timeout(sent.error()));
    srv.stop();
}

// Lingering is bounded: by linger_max_bytes for a client that never stops
// sending, by linger_timeout for one that keeps the connection open.
task<void> linger_bounds_main() {
    {
        http::server_options opts;
        opts.max_body_bytes = 1024;
        opts.linger_timeout = 60s;
        opts.linger_max_bytes = 256 * 1024;
        auto srv = goro_test::start_server(opts);
        auto c = co_await goro_test::dial(srv.addr);
        auto w = co_await c.write_all("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1073741824\r\n\r\n");
        REQUIRE(w);
        auto writer = goro::spawn(upload, c, std::size_t{1} << 30);
        auto sent = co_await std::move(writer);
        REQUIRE_FALSE(sent);  // reset once the server had drained its 256 KiB and closed
        CHECK_FALSE(goro::net::is_timeout(sent.error()));
        srv.stop();
    }
    {
        http::server_options opts;
        opts.max_body_bytes = 1024;
        opts.linger_timeout = 300ms;
        opts.linger_max_bytes = 256u << 20;
        auto srv = goro_test::start_server(opts);
        auto c = co_await goro_test::dial(srv.addr);
        auto w = co_await c.write_all("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1073741824\r\n\r\n");
        REQUIRE(w);
        std::string buf;
        auto r = co_await read_reply(c, buf);
        REQUIRE(r);
        CHECK(r->status == 413);
        // A trickle, well under the byte bound: the server drains it until
        // linger_timeout, then closes, and a write fails.
        std::size_t trickled = 0;
        result<void> last;
        for (; trickled < (64u << 20); trickled += 1024) {
            last = co_await c.write_all(std::string(1024, 't'));
            if (!last) break;
            co_await goro::sleep(10ms);
        }
        REQUIRE_FALSE(last);
        CHECK_FALSE(goro::net::is_timeout(last.error()));
        srv.stop();
    }
}

}  // namespace

TEST_CASE("http server: a slow head (slowloris) is cut off after read_header_timeout, a slow body is not",
          "[http][server][timeout]") {
    goro_test::run_guarded("slowloris", slowloris_main());
}

TEST_CASE("http server: an idle keep-alive connection is closed after idle_timeout", "[http][server][timeout]") {
    goro_test::run_guarded("idle", idle_main());
}

TEST_CASE("http server: lingering close lets a client still uploading read its 413 and finish", "[http][server]") {
    goro_test::run_guarded("linger", linger_main());
}

TEST_CASE("http server: without lingering, the same upload is reset", "[http][server]") {
    goro_test::run_guarded("no linger", no_linger_main());
}

TEST_CASE("http server: lingering stops after linger_max_bytes or linger_timeout", "[http][server]") {
    goro_test::run_guarded("linger bounds", linger_bounds_main());
}
