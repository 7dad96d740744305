// Tests for goro::http's server (io/http1_server.hpp) over loopback TCP, with
// raw sockets: chunked bodies, request smuggling, Expect: 100-continue, the
// body and head limits, header and idle timeouts, the lingering close. And
// with curl, when it is installed (tests/http1_curl_test.cpp).
//
// Behaviour only, never latency: timeouts are configured short and the
// tests assert that the connection was closed (or not answered); every
// client socket has a deadline of k_hang_guard, far above any timeout here,
// so that a server that fails to close shows up as a timeout error instead
// of a hang. Catch2 is not thread-safe: assertions run in the main task only
// (server tasks record what they see in a probe); no co_await inside an
// assertion (g++ 12, see tests/support/io_runtime.hpp).
#include <sys/socket.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>

#include "support/http_client.hpp"
#include "support/io_runtime.hpp"

using namespace std::chrono_literals;
using goro::task;
using goro::net::tcp_stream;
namespace http = goro::http;
using goro_test::ending;
using goro_test::read_reply;
using goro_test::read_to_end;
using goro_test::reply;

namespace {

// ---------------------------------------------------------------- scenarios

// The last response of a connection: `status` with "Connection: close", then
// the end of the stream (what follows it in buf was never answered).
task<void> expect_last_reply(tcp_stream& c, std::string& buf, int status) {
    auto r = co_await read_reply(c, buf);
    REQUIRE(r);
    CHECK(r->status == status);
    CHECK(r->closes());
    const ending e = co_await read_to_end(c, buf);
    CHECK(e == ending::eof);
}

task<void> chunked_bodies_main() {
    auto srv = goro_test::start_server({});
    auto c = co_await goro_test::dial(srv.addr);
    std::string buf;
    // Extensions, trailers, then a pipelined second request on the same
    // connection: the body's end was found exactly.
    const std::string req =
        "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5;name=value\r\nhello\r\n"
        "6 ; quoted=\"a;b\"\r\n world\r\n"
        "0;last\r\nX-Checksum: abc\r\nX-Other: 1 2\r\n\r\n"
        "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
    // Sent in small writes, so the body also arrives in pieces.
    for (std::size_t at = 0; at < req.size(); at += 7) {
        auto w = co_await c.write_all(std::string_view(req).substr(at, 7));
        REQUIRE(w);
    }
    auto r1 = co_await read_reply(c, buf);
    REQUIRE(r1);
    CHECK(r1->status == 200);
    CHECK(r1->body == "hello world");
    CHECK(r1->field("X-Trailers") == "X-Checksum=abc;X-Other=1 2;");
    auto r2 = co_await read_reply(c, buf);
    REQUIRE(r2);
    CHECK(r2->status == 200);
    CHECK(r2->body == "hello");

    // The body as a byte stream under goro::bufio.
    auto wl = co_await c.write_all("POST /lines HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                                   "4\r\none\n\r\n8\r\ntwo\nthre\r\n2\r\ne\n\r\n0\r\n\r\n");
    REQUIRE(wl);
    auto lines = co_await read_reply(c, buf);
    REQUIRE(lines);
    CHECK(lines->body == "3");

    // A large chunked body (chunks larger than the server's buffer): read
    // straight into the handler's memory, and counted right.
    std::string big;
    for (int i = 0; i < 300'000; ++i) big += static_cast<char>('a' + i % 26);
    std::string framed = "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (std::size_t at = 0; at < big.size(); at += 100'000) framed += "186a0\r\n" + big.substr(at, 100'000) + "\r\n";
    framed += "0\r\n\r\n";
    auto w = co_await c.write_all(framed);
    REQUIRE(w);
    auto r3 = co_await read_reply(c, buf);
    REQUIRE(r3);
    CHECK(r3->status == 200);
    CHECK(r3->body == big);
    CHECK_FALSE(r3->closes());
    srv.stop();
}

task<void> malformed_chunking_main() {
    auto srv = goro_test::start_server({});
    for (std::string_view target : {"/echo", "/ignore"}) {  // the handler reads the body, or the server skips it
        for (std::string_view bad : {"5\r\nhelloX\r\n0\r\n\r\n", "5 \r\nhello\r\n0\r\n\r\n", "zz\r\n",
                                     "5\nhello\r\n0\r\n\r\n", "0\r\n folded: x\r\n\r\n",
                                     "10000000000000000\r\n"}) {
            INFO(target << " with " << bad);
            auto c = co_await goro_test::dial(srv.addr);
            std::string req = "POST " + std::string(target) +
                              " HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + std::string(bad) +
                              "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
            auto w = co_await c.write_all(req);
            REQUIRE(w);
            std::string buf;
            co_await expect_last_reply(c, buf, 400);
            CHECK(buf.empty());  // the request after the bad body was not answered
        }
    }
    srv.stop();
}

task<void> smuggling_main() {
    auto srv = goro_test::start_server({});
    for (std::string_view framing : {"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
                                     "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
                                     "Transfer-Encoding: gzip, chunked\r\n",
                                     "Content-Length: 5\r\nContent-Length: 6\r\n"}) {
        INFO(framing);
        auto c = co_await goro_test::dial(srv.addr);
        const std::string req = "POST /echo HTTP/1.1\r\nHost: x\r\n" + std::string(framing) +
                                "\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
        auto w = co_await c.write_all(req);
        REQUIRE(w);
        std::string buf;
        auto r = co_await read_reply(c, buf);
        REQUIRE(r);
        CHECK((r->status == 400 || r->status == 501));
        CHECK(r->closes());
        const ending e = co_await read_to_end(c, buf);
        CHECK(e == ending::eof);
        CHECK(buf.empty());
    }
    CHECK(srv.probe->calls.load() == 0);  // no handler saw any of them
    srv.stop();
}

task<void> expect_continue_main() {
    auto srv = goro_test::start_server({});
    {
        // The handler waits at the gate before reading: until it reads,
        // nothing has been sent (the request is in the handler, so a 100
        // sent on receipt would be here already: loopback delivers a write
        // before it returns). Then 100 Continue, then the answer.
        auto c = co_await goro_test::dial(srv.addr);
        auto w = co_await c.write_all("POST /gate HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
        REQUIRE(w);
        auto entered = co_await srv.probe->gate_entered.recv();
        REQUIRE(entered);
        char probe_byte = 0;
        const ssize_t early = ::recv(c.native_handle(), &probe_byte, 1, MSG_DONTWAIT | MSG_PEEK);
        CHECK(early == -1);  // EAGAIN: nothing yet
        co_await srv.probe->gate_open.send(1);
        std::string buf;
        auto interim = co_await read_reply(c, buf);
        REQUIRE(interim);
        CHECK(interim->status == 100);
        CHECK(interim->head == "HTTP/1.1 100 Continue\r\n\r\n");
        auto w2 = co_await c.write_all("hello");
        REQUIRE(w2);
        auto r = co_await read_reply(c, buf);
        REQUIRE(r);
        CHECK(r->status == 200);
        CHECK(r->body == "hello");
        CHECK_FALSE(r->closes());
    }
    {
        // A handler that answers without reading: no 100 at all, and the
        // connection closes (the client may or may not send the body).
        auto c = co_await goro_test::dial(srv.addr);
        auto w = co_await c.write_all(
            "POST /ignore HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 100000\r\n\r\n");
        REQUIRE(w);
        std::string buf;
        co_await expect_last_reply(c, buf, 200);
        CHECK(buf.empty());
    }
    {
        // Chunked with Expect: the same 100 at the first read.
        auto c = co_await goro_test::dial(srv.addr);
        auto w = co_await c.write_all(
            "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n");
        REQUIRE(w);
        std::string buf;
        auto interim = co_await read_reply(c, buf);
        REQUIRE(interim);
        CHECK(interim->status == 100);
        auto w2 = co_await c.write_all("3\r\nabc\r\n0\r\n\r\n");
        REQUIRE(w2);
        auto r = co_await read_reply(c, buf);
        REQUIRE(r);
        CHECK(r->body == "abc");
    }
    {
        // Over the body limit: 413 at once, no 100, the body never read.
        auto c = co_await goro_test::dial(srv.addr);
        auto w = co_await c.write_all(
            "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1000000000\r\n\r\n");
        REQUIRE(w);
        std::string buf;
        co_await expect_last_reply(c, buf, 413);
    }
    {
        // An expectation the server does not know: 417.
        auto c = co_await goro_test::dial(srv.addr);
        auto w = co_await c.write_all("POST /echo HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\nContent-Length: 1\r\n\r\nx");
        REQUIRE(w);
        std::string buf;
        auto r = co_await read_reply(c, buf);
        REQUIRE(r);
        CHECK(r->status == 417);
        CHECK(r->closes());
    }
    CHECK(srv.probe->calls.load() == 3);  // /gate, /ignore and the chunked /echo
    srv.stop();
}

task<void> limits_main() {
    http::server_options opts;
    opts.max_body_bytes = 1000;
    auto srv = goro_test::start_server(opts);
    {
        // Content-Length over the limit: 413 without calling the handler.
        auto c = co_await goro_test::dial(srv.addr);
        auto w = co_await c.write_all("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n");
        REQUIRE(w);
        std::string buf;
        auto r = co_await read_reply(c, buf);
        REQUIRE(r);
        CHECK(r->status == 413);
        CHECK(r->closes());
        CHECK(r->body == "413 Content Too Large");
    }
    {
        // At the limit: fine.
        auto c = co_await goro_test::dial(srv.addr);
        auto w = co_await c.write_all("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" +
                                      std::string(1000, 'b'));
        REQUIRE(w);
        std::string buf;
        auto r = co_await read_reply(c, buf);
        REQUIRE(r);
        CHECK(r->status == 200);
        CHECK(r->body.size() == 1000);
    }
    for (std::string_view target : {"/echo", "/ignore"}) {
        // A chunked body growing past the limit: 413, whatever the handler
        // said (the /echo handler answers 299 with the error it got).
        INFO(target);
        auto c = co_await goro_test::dial(srv.addr);
        std::string req = "POST " + std::string(target) + " HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
        for (int i = 0; i < 3; ++i) req += "190\r\n" + std::string(400, 'c') + "\r\n";
        req += "0\r\n\r\n";
        auto w = co_await c.write_all(req);
        REQUIRE(w);
        std::string buf;
        co_await expect_last_reply(c, buf, 413);
    }
    {
        // A head over k_max_head_size: 431, then close.
        auto c = co_await goro_test::dial(srv.addr);
        auto w = co_await c.write_all("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " +
                                      std::string(http::k_max_head_size, 'h') + "\r\n\r\n");
        REQUIRE(w);
        std::string buf;
        co_await expect_last_reply(c, buf, 431);
    }
    CHECK(srv.probe->calls.load() == 3);  // the 1000-byte body and the two chunked ones
    srv.stop();
}

task<void> unread_bodies_main() {
    auto srv = goro_test::start_server({});
    {
        // A body the handler ignores is skipped: the next request parses.
        auto c = co_await goro_test::dial(srv.addr);
        auto w = co_await c.write_all("POST /ignore HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789"
                                      "POST /ignore HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                                      "4\r\nGET \r\n0\r\n\r\n"
                                      "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
        REQUIRE(w);
        std::string buf;
        for (int i = 0; i < 3; ++i) {
            auto r = co_await read_reply(c, buf);
            REQUIRE(r);
            CHECK(r->status == 200);
            CHECK_FALSE(r->closes());
        }
    }
    {
        // More than the server skips (256 KiB): the answer, then close.
        auto c = co_await goro_test::dial(srv.addr);
        auto w = co_await c.write_all("POST /ignore HTTP/1.1\r\nHost: x\r\nContent-Length: 600000\r\n\r\n");
        REQUIRE(w);
        std::string buf;
        auto r = co_await read_reply(c, buf);
        REQUIRE(r);
        CHECK(r->status == 200);
        CHECK(r->closes());
    }
    srv.stop();
}

task<void> misc_main() {
    auto srv = goro_test::start_server({});
    auto c = co_await goro_test::dial(srv.addr);
    auto w = co_await c.write_all("HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n"
                                  "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
                                  "GET /bad-header HTTP/1.1\r\nHost: x\r\n\r\n"
                                  "GET /throw HTTP/1.1\r\nHost: x\r\n\r\n"
                                  "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    REQUIRE(w);
    std::string buf;
    auto head = co_await read_reply(c, buf, true);
    REQUIRE(head);
    CHECK(head->status == 200);
    CHECK(head->field("Content-Length") == "5");
    CHECK(head->body.empty());
    CHECK(head->field("Date").size() == http::k_date_size);
    auto ka = co_await read_reply(c, buf);
    REQUIRE(ka);
    CHECK(ka->field("Connection") == "keep-alive");
    CHECK(ka->body == "hello");
    auto bad = co_await read_reply(c, buf);
    REQUIRE(bad);
    CHECK(bad->status == 500);  // the handler tried to set Content-Length itself
    CHECK_FALSE(bad->closes());
    auto threw = co_await read_reply(c, buf);
    REQUIRE(threw);
    CHECK(threw->status == 500);
    CHECK(threw->closes());
    {
        const ending e = co_await read_to_end(c, buf);
        CHECK(e == ending::eof);
    }
    CHECK(buf.empty());  // the last request came after the close
    srv.stop();
}

}  // namespace

TEST_CASE("http server: chunked bodies decode with extensions and trailers, then keep-alive goes on", "[http][server]") {
    goro_test::run_guarded("chunked bodies", chunked_bodies_main());
}

TEST_CASE("http server: malformed chunking is a 400 and a close", "[http][server]") {
    goro_test::run_guarded("malformed chunking", malformed_chunking_main());
}

TEST_CASE("http server: Content-Length with Transfer-Encoding is a 400; the smuggled request is not served",
          "[http][server]") {
    goro_test::run_guarded("smuggling", smuggling_main());
}

TEST_CASE("http server: 100 Continue is sent when the handler starts reading, never before", "[http][server]") {
    goro_test::run_guarded("expect", expect_continue_main());
}

TEST_CASE("http server: 413 past the body limit, 431 past the head limit, then close", "[http][server]") {
    goro_test::run_guarded("limits", limits_main());
}

TEST_CASE("http server: a body the handler did not read is skipped, or the connection closed", "[http][server]") {
    goro_test::run_guarded("unread bodies", unread_bodies_main());
}

TEST_CASE("http server: HEAD, HTTP/1.0 keep-alive, invalid responses and handler exceptions", "[http][server]") {
    goro_test::run_guarded("misc", misc_main());
}
