// Tests for goro::http (io/http1.hpp): the request-head parser, its limits
// and keep-alive rules, and the response writers. Every parse also runs
// incrementally, one byte more per call, and must end exactly where the
// whole-buffer parse does.
#include <catch2/catch.hpp>

#include <ctime>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include <goro/io/http1.hpp>

using goro::http::parse_status;
using goro::http::request;
using namespace std::string_view_literals;

namespace {

const char* name_of(parse_status s) {
    switch (s) {
    case parse_status::complete: return "complete";
    case parse_status::incomplete: return "incomplete";
    case parse_status::bad_request: return "bad_request";
    case parse_status::too_large: return "too_large";
    case parse_status::version_not_supported: return "version_not_supported";
    case parse_status::not_implemented: return "not_implemented";
    }
    return "?";
}

bool inside(std::string_view part, std::string_view whole) {
    return part.empty() || (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

// Parses `buf` whole, then every prefix of it, and checks that the prefixes
// say `incomplete` until the first final verdict, which must equal the
// whole-buffer one (status, consumed and every field). Returns the whole parse.
parse_status parse_checked(std::string_view buf, request& out, std::size_t& consumed) {
    const parse_status whole = goro::http::parse_request(buf, out, consumed);
    INFO("whole-buffer result " << name_of(whole) << ", consumed " << consumed);
    if (whole == parse_status::complete) {
        CHECK(consumed > 0);
        CHECK(consumed <= buf.size());
        CHECK(inside(out.method, buf.substr(0, consumed)));
        CHECK(inside(out.target, buf.substr(0, consumed)));
        for (const auto& h : out.headers()) {
            CHECK(inside(h.name, buf.substr(0, consumed)));
            CHECK(inside(h.value, buf.substr(0, consumed)));
        }
    } else {
        CHECK(consumed == 0);
    }

    request part;
    for (std::size_t n = 0; n <= buf.size(); ++n) {
        std::size_t used = 12345;
        parse_status s = goro::http::parse_request(buf.substr(0, n), part, used);
        if (s == parse_status::incomplete) {
            CHECK(used == 0);
            continue;
        }
        INFO("first verdict at prefix length " << n << ": " << name_of(s));
        CHECK(s == whole);
        CHECK(used == consumed);
        if (s == parse_status::complete) {
            CHECK(part.method.data() == out.method.data());
            CHECK(part.target == out.target);
            CHECK(part.version_minor == out.version_minor);
            CHECK(part.keep_alive == out.keep_alive);
            CHECK(part.chunked == out.chunked);
            CHECK(part.content_length == out.content_length);
            CHECK(part.header_count == out.header_count);
        }
        return whole;
    }
    CHECK(whole == parse_status::incomplete);  // no prefix was final, so neither is the whole
    return whole;
}

parse_status status_of(std::string_view buf) {
    request r;
    std::size_t used = 0;
    return parse_checked(buf, r, used);
}

std::string simple_get(std::string_view extra_headers = {}, std::string_view version = "HTTP/1.1") {
    return "GET / " + std::string(version) + "\r\nHost: example.com\r\n" + std::string(extra_headers) + "\r\n";
}

struct bad_case {
    std::string input;
    parse_status expected;
};

void check_cases(const std::vector<bad_case>& cases) {
    for (const auto& c : cases) {
        INFO("input: " << c.input);
        CHECK(name_of(status_of(c.input)) == std::string(name_of(c.expected)));
    }
}

}  // namespace

TEST_CASE("a simple GET parses into views of the buffer", "[http]") {
    const std::string buf =
        "GET /index.html?q=1 HTTP/1.1\r\n"
        "Host: example.com\r\n"
        "User-Agent: goro-test/1.0\r\n"
        "Accept: */*\r\n"
        "\r\n";
    request req;
    std::size_t used = 0;
    REQUIRE(parse_checked(buf, req, used) == parse_status::complete);
    CHECK(used == buf.size());
    CHECK(req.method == "GET");
    CHECK(req.target == "/index.html?q=1");
    CHECK(req.version_minor == 1);
    CHECK(req.keep_alive);
    CHECK_FALSE(req.chunked);
    CHECK(req.content_length == 0);
    REQUIRE(req.headers().size() == 3);
    CHECK(req.headers()[0].name == "Host");
    CHECK(req.headers()[0].value == "example.com");
    CHECK(req.headers()[1].name == "User-Agent");
    CHECK(req.headers()[1].value == "goro-test/1.0");
    CHECK(req.headers()[2].value == "*/*");
    CHECK(req.method.data() == buf.data());
}

TEST_CASE("a POST head stops before its Content-Length body", "[http]") {
    const std::string buf =
        "POST /submit HTTP/1.1\r\n"
        "Host: x\r\n"
        "Content-Type: text/plain\r\n"
        "Content-Length: 11\r\n"
        "\r\n"
        "hello world";
    request req;
    std::size_t used = 0;
    REQUIRE(parse_checked(buf, req, used) == parse_status::complete);
    CHECK(req.method == "POST");
    CHECK(req.content_length == 11);
    CHECK(used == buf.size() - 11);
    CHECK(std::string_view(buf).substr(used, req.content_length) == "hello world");
}

TEST_CASE("pipelined requests in one buffer parse one after another", "[http]") {
    const std::string buf =
        "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
        "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
        "\r\n"  // a stray CR LF after a body, which RFC 9112 2.2 says to skip
        "GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        "GET /d HT";  // the start of a fourth request
    std::string_view unread = buf;
    std::vector<std::string> targets;
    std::vector<bool> keep;
    request req;
    for (;;) {
        std::size_t used = 0;
        parse_status s = parse_checked(unread, req, used);
        if (s != parse_status::complete) {
            CHECK(s == parse_status::incomplete);
            break;
        }
        targets.emplace_back(req.target);
        keep.push_back(req.keep_alive);
        REQUIRE(unread.size() >= used + req.content_length);
        unread.remove_prefix(used + req.content_length);
    }
    CHECK(targets == std::vector<std::string>{"/a", "/b", "/c"});
    CHECK(keep == std::vector<bool>{true, true, false});
    CHECK(unread == "GET /d HT");
}

TEST_CASE("feeding a request one byte at a time gives the whole-buffer result", "[http]") {
    // parse_checked does the byte-by-byte feeding; these add a few shapes.
    CHECK(status_of("GET / HTTP/1.0\r\n\r\n") == parse_status::complete);
    CHECK(status_of("\r\n\r\nGET / HTTP/1.0\r\n\r\n") == parse_status::complete);
    CHECK(status_of(simple_get("A: 1\r\nB:\r\nC: \t3\t \r\n")) == parse_status::complete);
    CHECK(status_of("GET / HTTP/1.1\r\nHost: x\r\nBad Name: y\r\n") == parse_status::bad_request);
    CHECK(status_of("GET / HTTP/1.1\r\nHost: x\r\n") == parse_status::incomplete);
    CHECK(status_of("") == parse_status::incomplete);
    CHECK(status_of("\r") == parse_status::incomplete);
}

TEST_CASE("empty lines before the request line are skipped and counted", "[http]") {
    const std::string buf = "\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n";
    request req;
    std::size_t used = 0;
    REQUIRE(parse_checked(buf, req, used) == parse_status::complete);
    CHECK(used == buf.size());
    CHECK(req.method == "GET");
}

TEST_CASE("malformed request lines are refused with the right status", "[http]") {
    check_cases({
        {"G(T / HTTP/1.1\r\nHost: x\r\n\r\n", parse_status::bad_request},    // method not a token
        {"GET\t/ HTTP/1.1\r\nHost: x\r\n\r\n", parse_status::bad_request},   // tab as separator
        {" GET / HTTP/1.1\r\nHost: x\r\n\r\n", parse_status::bad_request},   // leading space
        {"/ HTTP/1.1\r\nHost: x\r\n\r\n", parse_status::bad_request},        // no method
        {"GET  HTTP/1.1\r\nHost: x\r\n\r\n", parse_status::bad_request},     // empty target
        {"GET  / HTTP/1.1\r\nHost: x\r\n\r\n", parse_status::bad_request},   // two spaces
        {"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", parse_status::bad_request}, // space in target
        {"GET /a\x01 HTTP/1.1\r\nHost: x\r\n\r\n", parse_status::bad_request},
        {"GET /a\x7f HTTP/1.1\r\nHost: x\r\n\r\n", parse_status::bad_request},
        {std::string("GET /a\0b HTTP/1.1\r\nHost: x\r\n\r\n"sv), parse_status::bad_request},
        {"GET /\r\nHost: x\r\n\r\n", parse_status::bad_request},             // no version
        {"GET / \r\nHost: x\r\n\r\n", parse_status::bad_request},
        {"GET / HTTP/1.1 \r\nHost: x\r\n\r\n", parse_status::bad_request},   // trailing space
        {"GET / http/1.1\r\nHost: x\r\n\r\n", parse_status::bad_request},    // case-sensitive
        {"GET / HTTP/1.x\r\nHost: x\r\n\r\n", parse_status::bad_request},
        {"GET / HTTP/1.10\r\nHost: x\r\n\r\n", parse_status::bad_request},
        {"GET / HTTP/11\r\nHost: x\r\n\r\n", parse_status::bad_request},
        {"GET / HTTP/1.1\rHost: x\r\n\r\n", parse_status::bad_request},      // lone CR
        {"\n", parse_status::bad_request},                                     // bare LF first
        {"\r\nGET / HTTP/1.1\nHost: x\r\n\r\n", parse_status::bad_request},
        {"GET / HTTP/2.0\r\nHost: x\r\n\r\n", parse_status::version_not_supported},
        {"GET / HTTP/1.2\r\nHost: x\r\n\r\n", parse_status::version_not_supported},
        {"GET / HTTP/0.9\r\nHost: x\r\n\r\n", parse_status::version_not_supported},
        {"GET / HTTP/3.0\r\n", parse_status::version_not_supported},  // decided at the first line
        {"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", parse_status::version_not_supported},
    });
}

TEST_CASE("request targets may be any visible bytes", "[http]") {
    request req;
    std::size_t used = 0;
    REQUIRE(parse_checked("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", req, used) == parse_status::complete);
    CHECK(req.target == "*");
    REQUIRE(parse_checked("GET http://a.example/p?x=%20&y=\xc3\xa9 HTTP/1.1\r\nHost: a.example\r\n\r\n", req,
                          used) == parse_status::complete);
    CHECK(req.target == "http://a.example/p?x=%20&y=\xc3\xa9");
    REQUIRE(parse_checked("M-SEARCH! / HTTP/1.1\r\nHost: x\r\n\r\n", req, used) == parse_status::complete);
    CHECK(req.method == "M-SEARCH!");
}

TEST_CASE("malformed header lines are refused with 400", "[http]") {
    check_cases({
        {simple_get("Name : value\r\n"), parse_status::bad_request},     // space before colon
        {simple_get("Name\t: value\r\n"), parse_status::bad_request},    // tab before colon
        {simple_get("Na(me: value\r\n"), parse_status::bad_request},     // not a token
        {simple_get(": value\r\n"), parse_status::bad_request},          // empty name
        {simple_get("NoColon\r\n"), parse_status::bad_request},
        {simple_get("X-A: a\r\n b\r\n"), parse_status::bad_request},     // obs-fold
        {simple_get("X-A: a\r\n\tb\r\n"), parse_status::bad_request},    // obs-fold with tab
        {"GET / HTTP/1.1\r\n Host: x\r\n\r\n", parse_status::bad_request},  // space after start line
        {simple_get("X: a\x01b\r\n"), parse_status::bad_request},        // control byte in value
        {simple_get("X: a\x7f\r\n"), parse_status::bad_request},         // DEL in value
        {simple_get("X: a\rb\r\n"), parse_status::bad_request},          // lone CR in value
        {simple_get("X: a\0b\r\n"sv), parse_status::bad_request},
        {"GET / HTTP/1.1\r\nHost: x\nX: y\r\n\r\n", parse_status::bad_request},  // bare LF
        {"GET / HTTP/1.1\r\nHost: x\r\n\n", parse_status::bad_request},          // bare LF end
        {"GET / HTTP/1.1\r\nHost: x\r\n\r\r\n", parse_status::bad_request},
    });
}

TEST_CASE("field values lose surrounding whitespace but keep inner tabs and obs-text", "[http]") {
    request req;
    std::size_t used = 0;
    const std::string buf = simple_get("A:   a b \t\r\nB:\r\nC: \t \r\nD:\tx\ty\r\nE: caf\xc3\xa9\r\n");
    REQUIRE(parse_checked(buf, req, used) == parse_status::complete);
    CHECK(req.header("A") == "a b"sv);
    CHECK(req.header("B") == ""sv);
    CHECK(req.header("C") == ""sv);
    CHECK(req.header("D") == "x\ty"sv);
    CHECK(req.header("E") == "caf\xc3\xa9"sv);
}

TEST_CASE("a bad byte is found at any position of a long field value", "[http]") {
    // The value check runs eight bytes at a time; try every offset in and
    // around a word, and the bytes next to the class boundaries.
    request req;
    std::size_t used = 0;
    for (std::size_t at = 0; at < 24; ++at) {
        for (int bad : {0x00, 0x01, 0x08, 0x0a, 0x0b, 0x0d, 0x1f, 0x7f}) {
            std::string value(24, 'v');
            value[at] = static_cast<char>(bad);
            const std::string head = "GET / HTTP/1.1\r\nHost: x\r\nX: y" + value + "z\r\n\r\n";
            INFO("byte " << bad << " at " << at);
            CHECK(goro::http::parse_request(head, req, used) == parse_status::bad_request);
        }
        for (int good : {0x09, 0x20, 0x21, 0x7e, 0x80, 0xa0, 0xff}) {
            std::string value(24, 'v');
            value[at] = static_cast<char>(good);
            const std::string head = "GET / HTTP/1.1\r\nHost: x\r\nX: y" + value + "z\r\n\r\n";
            INFO("byte " << good << " at " << at);
            REQUIRE(goro::http::parse_request(head, req, used) == parse_status::complete);
            CHECK(req.header("x") == "y" + value + "z");
        }
    }
}

TEST_CASE("Content-Length must be plain digits, fit, and agree with itself", "[http]") {
    check_cases({
        {simple_get("Content-Length: abc\r\n"), parse_status::bad_request},
        {simple_get("Content-Length: -1\r\n"), parse_status::bad_request},
        {simple_get("Content-Length: +1\r\n"), parse_status::bad_request},
        {simple_get("Content-Length: 1 2\r\n"), parse_status::bad_request},
        {simple_get("Content-Length: 0x10\r\n"), parse_status::bad_request},
        {simple_get("Content-Length:\r\n"), parse_status::bad_request},
        {simple_get("Content-Length: 5, 5\r\n"), parse_status::bad_request},
        {simple_get("Content-Length: 18446744073709551616\r\n"), parse_status::bad_request},
        {simple_get("Content-Length: 99999999999999999999999\r\n"), parse_status::bad_request},
        {simple_get("Content-Length: 5\r\ncontent-length: 6\r\n"), parse_status::bad_request},
    });
    request req;
    std::size_t used = 0;
    REQUIRE(parse_checked(simple_get("Content-Length: 18446744073709551615\r\n"), req, used) ==
            parse_status::complete);
    CHECK(req.content_length == 18446744073709551615u);
    REQUIRE(parse_checked(simple_get("CONTENT-LENGTH:  00012 \r\n"), req, used) == parse_status::complete);
    CHECK(req.content_length == 12);
    REQUIRE(parse_checked(simple_get("Content-Length: 7\r\nContent-Length: 007\r\n"), req, used) ==
            parse_status::complete);
    CHECK(req.content_length == 7);
}

TEST_CASE("Transfer-Encoding: chunked parses, others are 501, mixed framing is 400", "[http]") {
    request req;
    std::size_t used = 0;
    REQUIRE(parse_checked(simple_get("Transfer-Encoding: chunked\r\n"), req, used) == parse_status::complete);
    CHECK(req.chunked);
    CHECK(req.content_length == 0);
    REQUIRE(parse_checked(simple_get("transfer-encoding:  Chunked \r\n"), req, used) == parse_status::complete);
    CHECK(req.chunked);

    check_cases({
        {simple_get("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"), parse_status::bad_request},
        {simple_get("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"), parse_status::bad_request},
        {simple_get("Content-Length: 5\r\nTransfer-Encoding: gzip\r\n"), parse_status::bad_request},
        {simple_get("Transfer-Encoding: chunked\r\n", "HTTP/1.0"), parse_status::bad_request},
        {simple_get("Transfer-Encoding: gzip\r\n"), parse_status::not_implemented},
        {simple_get("Transfer-Encoding: gzip, chunked\r\n"), parse_status::not_implemented},
        {simple_get("Transfer-Encoding: identity\r\n"), parse_status::not_implemented},
        {simple_get("Transfer-Encoding:\r\n"), parse_status::not_implemented},
        {simple_get("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"), parse_status::not_implemented},
    });
}

TEST_CASE("HTTP/1.1 needs exactly one Host header", "[http]") {
    check_cases({
        {"GET / HTTP/1.1\r\n\r\n", parse_status::bad_request},
        {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", parse_status::bad_request},
        {"GET / HTTP/1.0\r\nHost: a\r\nhost: a\r\n\r\n", parse_status::bad_request},
        {"GET / HTTP/1.0\r\n\r\n", parse_status::complete},
        {"GET / HTTP/1.1\r\nHost:\r\n\r\n", parse_status::complete},  // empty Host is allowed
    });
}

TEST_CASE("the header count is limited to k_max_headers", "[http]") {
    auto with_fields = [](std::size_t n) {
        std::string s = "GET / HTTP/1.1\r\nHost: x\r\n";
        for (std::size_t i = 1; i < n; ++i) s += "X-" + std::to_string(i) + ": v\r\n";
        return s + "\r\n";
    };
    request req;
    std::size_t used = 0;
    const std::string most = with_fields(goro::http::k_max_headers);
    REQUIRE(parse_checked(most, req, used) == parse_status::complete);
    CHECK(req.headers().size() == goro::http::k_max_headers);
    CHECK(req.headers().back().name == "X-63");
    CHECK(status_of(with_fields(goro::http::k_max_headers + 1)) == parse_status::too_large);
}

TEST_CASE("the head size is limited to k_max_head_size", "[http]") {
    using goro::http::k_max_head_size;
    // A head of exactly n bytes: request line, Host, one padding field, end.
    auto head_of = [](std::size_t n) {
        std::string s = "GET / HTTP/1.1\r\nHost: x\r\nX: ";
        s += std::string(n - s.size() - 4, 'a');
        return s + "\r\n\r\n";
    };
    request req;
    std::size_t used = 0;

    std::string exact = head_of(k_max_head_size);
    REQUIRE(exact.size() == k_max_head_size);
    REQUIRE(parse_checked(exact + "GET", req, used) == parse_status::complete);
    CHECK(used == k_max_head_size);

    CHECK(status_of(head_of(k_max_head_size + 1)) == parse_status::too_large);

    // Without an end in sight: incomplete below the limit, too_large at it.
    std::string open = exact.substr(0, k_max_head_size - 2);
    CHECK(goro::http::parse_request(open.substr(0, k_max_head_size - 3), req, used) == parse_status::incomplete);
    CHECK(goro::http::parse_request(open + "a\r", req, used) == parse_status::too_large);
    CHECK(status_of("GET /" + std::string(k_max_head_size, 'a') + " HTTP/1.1\r\n") == parse_status::too_large);
    CHECK(status_of(std::string(k_max_head_size, '\n')) == parse_status::bad_request);
    std::string crlfs;
    while (crlfs.size() < k_max_head_size) crlfs += "\r\n";
    CHECK(goro::http::parse_request(crlfs, req, used) == parse_status::too_large);
}

TEST_CASE("keep-alive follows the version and the Connection tokens", "[http]") {
    struct ka_case {
        std::string headers;
        std::string version;
        bool keep_alive;
    };
    const std::vector<ka_case> cases = {
        {"", "HTTP/1.1", true},
        {"Connection: close\r\n", "HTTP/1.1", false},
        {"Connection: CLOSE\r\n", "HTTP/1.1", false},
        {"Connection: keep-alive, close\r\n", "HTTP/1.1", false},
        {"Connection: Upgrade\r\n", "HTTP/1.1", true},
        {"Connection: closed\r\n", "HTTP/1.1", true},
        {"Connection: ,, close ,\r\n", "HTTP/1.1", false},
        {"Connection: upgrade\r\nConnection: close\r\n", "HTTP/1.1", false},
        {"", "HTTP/1.0", false},
        {"Connection: keep-alive\r\n", "HTTP/1.0", true},
        {"Connection: Keep-Alive\r\n", "HTTP/1.0", true},
        {"Connection: foo,\tkeep-alive\r\n", "HTTP/1.0", true},
        {"Connection: keep-alive\r\nConnection: close\r\n", "HTTP/1.0", false},
        {"Connection: keep-alives\r\n", "HTTP/1.0", false},
    };
    for (const auto& c : cases) {
        INFO(c.version << " with \"" << c.headers << "\"");
        request req;
        std::size_t used = 0;
        REQUIRE(parse_checked(simple_get(c.headers, c.version), req, used) == parse_status::complete);
        CHECK(req.version_minor == (c.version == "HTTP/1.1" ? 1 : 0));
        CHECK(req.keep_alive == c.keep_alive);
    }
}

TEST_CASE("header lookup ignores ASCII case and returns the first match", "[http]") {
    request req;
    std::size_t used = 0;
    const std::string buf = simple_get("X-Token: one\r\nx-token: two\r\nEmpty:\r\n");
    REQUIRE(parse_checked(buf, req, used) == parse_status::complete);
    CHECK(req.header("host") == "example.com"sv);
    CHECK(req.header("HOST") == "example.com"sv);
    CHECK(req.header("X-TOKEN") == "one"sv);
    CHECK(req.header("empty").has_value());
    CHECK(req.header("empty")->empty());
    CHECK_FALSE(req.header("missing").has_value());
    CHECK_FALSE(req.header("hos").has_value());
    CHECK(goro::http::iequals("Content-Length", "content-LENGTH"));
    CHECK_FALSE(goro::http::iequals("a", "ab"));
    CHECK_FALSE(goro::http::iequals("[", "{"));  // differ only in bit 0x20 but are not letters
}

TEST_CASE("format_response writes a complete response or nothing", "[http]") {
    char buf[512];
    std::size_t n = goro::http::format_response(buf, sizeof buf, 200, "", "text/plain", "Hello, World!", true);
    CHECK(std::string_view(buf, n) ==
          "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!");

    n = goro::http::format_response(buf, sizeof buf, 404, "Nope", "", "", false);
    CHECK(std::string_view(buf, n) == "HTTP/1.1 404 Nope\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");

    n = goro::http::format_response(buf, sizeof buf, 204, "", "", "", true, "Connection: keep-alive\r\n");
    CHECK(std::string_view(buf, n) == "HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n");

    n = goro::http::format_response(buf, sizeof buf, 299, "", "", "x", true);
    CHECK(std::string_view(buf, n) == "HTTP/1.1 299 \r\nContent-Length: 1\r\n\r\nx");

    // Exactly fitting, one byte short.
    const std::string_view expected = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
    CHECK(goro::http::format_response(buf, expected.size(), 200, "", "", "hi", true) == expected.size());
    CHECK(std::string_view(buf, expected.size()) == expected);
    CHECK(goro::http::format_response(buf, expected.size() - 1, 200, "", "", "hi", true) == 0);
    CHECK(goro::http::format_response(buf, 1, 200, "", "", std::string(600, 'x'), true) == 0);

    // Invalid arguments.
    CHECK(goro::http::format_response(buf, sizeof buf, 99, "", "", "", true) == 0);
    CHECK(goro::http::format_response(buf, sizeof buf, 1000, "", "", "", true) == 0);
    CHECK(goro::http::format_response(buf, sizeof buf, 200, "O\r\nK", "", "", true) == 0);
    CHECK(goro::http::format_response(buf, sizeof buf, 200, "", "text/plain\r\nX: y", "", true) == 0);
    CHECK(goro::http::format_response(buf, sizeof buf, 200, "", "", "", true, "X: y") == 0);
    CHECK(goro::http::format_response(buf, sizeof buf, 204, "", "", "body", true) == 0);
    CHECK(goro::http::format_response(buf, sizeof buf, 100, "", "", "body", true) == 0);
}

TEST_CASE("format_date writes an IMF-fixdate", "[http]") {
    char buf[goro::http::k_date_size];
    REQUIRE(goro::http::format_date(buf, sizeof buf, 784111777) == goro::http::k_date_size);
    CHECK(std::string_view(buf, sizeof buf) == "Sun, 06 Nov 1994 08:49:37 GMT");
    REQUIRE(goro::http::format_date(buf, sizeof buf, 0) == goro::http::k_date_size);
    CHECK(std::string_view(buf, sizeof buf) == "Thu, 01 Jan 1970 00:00:00 GMT");
    REQUIRE(goro::http::format_date(buf, sizeof buf, 951782400) == goro::http::k_date_size);
    CHECK(std::string_view(buf, sizeof buf) == "Tue, 29 Feb 2000 00:00:00 GMT");
    REQUIRE(goro::http::format_date(buf, sizeof buf, 4102444799) == goro::http::k_date_size);
    CHECK(std::string_view(buf, sizeof buf) == "Thu, 31 Dec 2099 23:59:59 GMT");
    REQUIRE(goro::http::format_date(buf, sizeof buf, 253402300799) == goro::http::k_date_size);
    CHECK(std::string_view(buf, sizeof buf) == "Fri, 31 Dec 9999 23:59:59 GMT");
    REQUIRE(goro::http::format_date(buf, sizeof buf, -62167219200) == goro::http::k_date_size);
    CHECK(std::string_view(buf, sizeof buf) == "Sat, 01 Jan 0000 00:00:00 GMT");
    REQUIRE(goro::http::format_date(buf, sizeof buf, -1) == goro::http::k_date_size);
    CHECK(std::string_view(buf, sizeof buf) == "Wed, 31 Dec 1969 23:59:59 GMT");
    CHECK(goro::http::format_date(buf, sizeof buf, 253402300800) == 0);
    CHECK(goro::http::format_date(buf, sizeof buf, -62167219201) == 0);
    CHECK(goro::http::format_date(buf, sizeof buf, std::numeric_limits<std::time_t>::max()) == 0);
    CHECK(goro::http::format_date(buf, sizeof buf, std::numeric_limits<std::time_t>::min()) == 0);
    CHECK(goro::http::format_date(buf, sizeof buf - 1, 0) == 0);
}

TEST_CASE("status reasons and canned error responses", "[http]") {
    CHECK(goro::http::status_reason(200) == "OK");
    CHECK(goro::http::status_reason(404) == "Not Found");
    CHECK(goro::http::status_reason(431) == "Request Header Fields Too Large");
    CHECK(goro::http::status_reason(999).empty());

    CHECK(goro::http::status_code(parse_status::complete) == 0);
    CHECK(goro::http::status_code(parse_status::incomplete) == 0);
    CHECK(goro::http::error_response(parse_status::complete).empty());
    CHECK(goro::http::error_response(parse_status::incomplete).empty());

    for (parse_status s : {parse_status::bad_request, parse_status::too_large, parse_status::version_not_supported,
                           parse_status::not_implemented}) {
        INFO(name_of(s));
        const int code = goro::http::status_code(s);
        const std::string_view r = goro::http::error_response(s);
        const std::string status_line =
            "HTTP/1.1 " + std::to_string(code) + " " + std::string(goro::http::status_reason(code)) + "\r\n";
        CHECK(r.starts_with(status_line));
        CHECK(r.find("\r\nConnection: close\r\n") != std::string_view::npos);
        const auto end = r.find("\r\n\r\n");
        REQUIRE(end != std::string_view::npos);
        const std::string_view body = r.substr(end + 4);
        CHECK(body.starts_with(std::to_string(code) + " "));
        CHECK(r.find("\r\nContent-Length: " + std::to_string(body.size()) + "\r\n") != std::string_view::npos);
    }
    CHECK(goro::http::status_code(parse_status::bad_request) == 400);
    CHECK(goro::http::status_code(parse_status::too_large) == 431);
    CHECK(goro::http::status_code(parse_status::version_not_supported) == 505);
    CHECK(goro::http::status_code(parse_status::not_implemented) == 501);
}

TEST_CASE("is_token and is_field_value classify bytes as the parser does", "[http]") {
    CHECK(goro::http::is_token("Content-Length"));
    CHECK(goro::http::is_token("!#$%&'*+-.^_`|~09azAZ"));
    CHECK_FALSE(goro::http::is_token(""));
    CHECK_FALSE(goro::http::is_token("a b"));
    CHECK_FALSE(goro::http::is_token("a:b"));
    CHECK_FALSE(goro::http::is_token("caf\xc3\xa9"));
    CHECK(goro::http::is_field_value(""));
    CHECK(goro::http::is_field_value("a b\tc \xc3\xa9 \x7e"));
    CHECK(goro::http::is_field_value("0123456789abcdef0123456789"));  // the eight-at-a-time path
    CHECK_FALSE(goro::http::is_field_value("a\r\nInjected: 1"));
    CHECK_FALSE(goro::http::is_field_value("0123456789abcdef\n"));
    CHECK_FALSE(goro::http::is_field_value("\x7f"));
    CHECK_FALSE(goro::http::is_field_value("a\0b"sv));
}
