// The HTTP parser's fuzz target (fuzz/http1_fuzz.cpp) run over its seed
// corpus (fuzz/corpus) and a few inputs built here, in every build: the
// target checks the parser's promises itself and aborts when one is broken,
// so a regression found by fuzzing stays caught in plain CI builds (g++,
// sanitizers) where libFuzzer is not available.
#include <catch2/catch.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include <goro/io/http1.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

void feed(const std::string& bytes) {
    LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
}

}  // namespace

TEST_CASE("http fuzz target: every seed in fuzz/corpus keeps the parser's promises", "[http][fuzz]") {
    std::size_t seeds = 0;
    for (const auto& entry : std::filesystem::directory_iterator(GORO_FUZZ_CORPUS)) {
        if (!entry.is_regular_file()) continue;
        std::ifstream in(entry.path(), std::ios::binary);
        const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        INFO(entry.path());
        feed(bytes);
        ++seeds;
    }
    REQUIRE(seeds >= 10);
}

TEST_CASE("http fuzz target: truncations and byte flips of a valid request", "[http][fuzz]") {
    const std::string valid =
        "POST /upload?x=1 HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n"
        "Connection: keep-alive\r\nX-Pad: a b c\r\n\r\nhelloGET / HTTP/1.1\r\nHost: h\r\n\r\n";
    // The seed itself must be what it claims (a complete head, then a body of
    // 5 and a second request), or the variants below exercise nothing.
    goro::http::request req;
    std::size_t used = 0;
    REQUIRE(goro::http::parse_request(valid, req, used) == goro::http::parse_status::complete);
    REQUIRE(valid.substr(used, 5) == "hello");
    REQUIRE(goro::http::parse_request(std::string_view(valid).substr(used + 5), req, used) ==
            goro::http::parse_status::complete);
    // The target aborts on a broken promise: surviving every call is the check.
    for (std::size_t n = 0; n <= valid.size(); ++n) feed(valid.substr(0, n));
    const char flips[] = {'\0', '\r', '\n', ' ', '\t', ':', '\x7f', '\xff'};
    for (std::size_t i = 0; i < valid.size(); ++i)
        for (char c : flips) {
            std::string mutated = valid;
            mutated[i] = c;
            feed(mutated);
        }
}

TEST_CASE("http fuzz target: truncations and byte flips of a chunked request", "[http][fuzz]") {
    // The target decodes the body after a chunked head (io/http1_chunked.hpp)
    // whole, one data byte per result and one input byte per read, and
    // aborts if the three disagree or a view leaves the input.
    const std::string valid =
        "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5;a=\"x;y\"\r\nhello\r\n3 ; b\r\nabc\r\n0\r\nX-Sum: 1\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n";
    goro::http::request req;
    std::size_t used = 0;
    REQUIRE(goro::http::parse_request(valid, req, used) == goro::http::parse_status::complete);
    REQUIRE(req.chunked);
    for (std::size_t n = 0; n <= valid.size(); ++n) feed(valid.substr(0, n));
    const char flips[] = {'\0', '\r', '\n', ' ', ';', '=', '"', '0', 'f', ':', '\xff'};
    for (std::size_t i = used; i < valid.size(); ++i)
        for (char c : flips) {
            std::string mutated = valid;
            mutated[i] = c;
            feed(mutated);
        }
}
