// Helpers for the HTTP server tests (tests/http1_*_test.cpp): a server on a
// loopback port with a handler that answers by target, a raw-socket client
// with a hang guard, and a reader of responses.
//
//     auto srv = goro_test::start_server(opts);         // 127.0.0.1:<free port>
//     auto c = co_await goro_test::dial(srv.addr);      // deadline: k_http_hang_guard
//     co_await c.write_all("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
//     std::string buf;
//     auto r = co_await goro_test::read_reply(c, buf);  // status, head, body
//
// The handler's targets: /hello answers "hello"; /echo reads the whole body
// and answers it (with its trailers in X-Trailers), or answers 299 with the
// read's error; /ignore answers without reading the body; /gate sends on
// probe->gate_entered, waits for probe->gate_open, then echoes; /bad-header
// sets a header the server reserves; /throw throws; /lines counts the body's
// lines through a goro::bufio::reader. probe->calls counts the handler's calls.
#pragma once

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <goro/goro.hpp>
#include <goro/io/http1_server.hpp>

namespace goro_test {

/// A test client gives up on the server this long after connecting: far
/// above every timeout the tests configure, so reaching it means "hung".
inline constexpr std::chrono::seconds k_http_hang_guard{30};

struct http_probe {
    std::atomic<int> calls{0};
    goro::chan<int> gate_entered{1};
    goro::chan<int> gate_open{1};
};

inline goro::http::handler test_handler(std::shared_ptr<http_probe> p) {
    // A coroutine lambda: its captures live in the std::function that
    // serve_conn keeps in its frame while the handler runs.
    return [p](const goro::http::request& req, goro::http::body& body,
               goro::http::response& resp) -> goro::task<void> {
        p->calls.fetch_add(1);
        resp.content_type = "text/plain";
        if (req.target == "/hello") {
            resp.body = "hello";
            co_return;
        }
        if (req.target == "/ignore") {
            resp.body = "ignored";
            co_return;
        }
        if (req.target == "/bad-header") {
            resp.headers = "Content-Length: 1\r\n";
            co_return;
        }
        if (req.target == "/throw") throw std::runtime_error("handler failed");
        if (req.target == "/lines") {  // the body is a goro byte stream: bufio reads it
            goro::bufio::reader<goro::http::body&> lines(body);
            int count = 0;
            for (;;) {
                auto line = co_await lines.read_line();
                if (!line) break;
                ++count;
            }
            resp.body = std::to_string(count);
            co_return;
        }
        if (req.target == "/gate") {
            co_await p->gate_entered.send(1);
            auto opened = co_await p->gate_open.recv();
            (void)opened;
        }
        auto all = co_await body.read_all();
        if (!all) {
            resp.status = 299;
            resp.body = all.error().message();
            co_return;
        }
        resp.body = std::move(*all);
        std::string trailers;
        for (const auto& f : body.trailers()) trailers += std::string(f.name) + "=" + std::string(f.value) + ";";
        if (!trailers.empty()) resp.headers = "X-Trailers: " + trailers + "\r\n";
    };
}

struct test_server {
    goro::net::tcp_listener listener;
    goro::net::address addr;
    std::shared_ptr<http_probe> probe;

    /// Stops accepting (connections already served go on).
    void stop() { (void)listener.close(); }
};

/// Serves test_handler on 127.0.0.1:<free port> (call inside the runtime).
inline test_server start_server(const goro::http::server_options& opts) {
    auto l = goro::net::tcp_listener::listen("127.0.0.1:0").value();
    auto probe = std::make_shared<http_probe>();
    goro::go(goro::http::serve(l, test_handler(probe), opts));
    return test_server{l, l.local_address().value(), probe};
}

/// Connects, with reads and writes failing (errc::timeout) after the hang guard.
inline goro::task<goro::net::tcp_stream> dial(goro::net::address a) {
    auto c = (co_await goro::net::tcp_stream::connect(a)).value();
    c.set_deadline(goro::net::deadline_clock::now() + k_http_hang_guard);
    co_return c;
}

struct reply {
    int status = 0;
    std::string head;  // status line and fields, through the empty line
    std::string body;

    /// The value of the first field named `name` (ASCII case-insensitive), or "".
    [[nodiscard]] std::string field(std::string_view name) const {
        std::size_t at = head.find("\r\n");
        while (at != std::string::npos && at + 2 < head.size()) {
            const std::size_t end = head.find("\r\n", at + 2);
            const std::string_view line = std::string_view(head).substr(at + 2, end - at - 2);
            const std::size_t colon = line.find(':');
            if (colon != std::string_view::npos && goro::http::iequals(line.substr(0, colon), name)) {
                std::string_view v = line.substr(colon + 1);
                while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
                return std::string(v);
            }
            at = end;
        }
        return {};
    }
    /// "Connection: close": the server closes after this response.
    [[nodiscard]] bool closes() const { return goro::http::iequals(field("Connection"), "close"); }
};

/// Reads one response from c (buf: bytes received and not yet used); a 1xx
/// has no body, nor has the answer to a HEAD. nullopt if the stream ended
/// or failed first.
inline goro::task<std::optional<reply>> read_reply(goro::net::tcp_stream& c, std::string& buf,
                                                   bool head_request = false) {
    for (;;) {
        const std::size_t end = buf.find("\r\n\r\n");
        if (end != std::string::npos && buf.size() >= 12) {
            reply r;
            r.head = buf.substr(0, end + 4);
            r.status = std::atoi(r.head.c_str() + 9);
            std::size_t length = 0;
            if (r.status >= 200 && !head_request) length = std::strtoul(r.field("Content-Length").c_str(), nullptr, 10);
            if (buf.size() >= end + 4 + length) {
                r.body = buf.substr(end + 4, length);
                buf.erase(0, end + 4 + length);
                co_return r;
            }
        }
        char tmp[4096];
        auto n = co_await c.read(tmp, sizeof tmp);
        if (!n || *n == 0) co_return std::nullopt;
        buf.append(tmp, *n);
    }
}

enum class ending { eof, reset, timeout, other };

/// Reads until the stream ends; the bytes go to buf. How it ended: eof (the
/// server closed or shut down its side), reset, timeout (the hang guard).
inline goro::task<ending> read_to_end(goro::net::tcp_stream& c, std::string& buf) {
    for (;;) {
        char tmp[4096];
        auto n = co_await c.read(tmp, sizeof tmp);
        if (!n) {
            if (goro::net::is_timeout(n.error())) co_return ending::timeout;
            if (n.error() == std::errc::connection_reset) co_return ending::reset;
            co_return ending::other;
        }
        if (*n == 0) co_return ending::eof;
        buf.append(tmp, *n);
    }
}

}  // namespace goro_test
