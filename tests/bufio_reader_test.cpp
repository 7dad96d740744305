// goro::bufio (io/bufio.hpp), the reading side: the buffered reader and the
// line scanner over TCP and Unix streams, and over in-memory test streams
// that count what the buffered layer asks of them. The writer, files and
// composition: bufio_writer_test.cpp.
//
// No co_await inside a REQUIRE (see support/io_runtime.hpp): await first,
// then assert. Assertions run in the main task, after the tasks they check
// were joined.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstddef>
#include <cstring>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <goro/goro.hpp>

#include "support/bufio_streams.hpp"
#include "support/io_runtime.hpp"

using goro::task;
using goro::net::tcp_stream;
using goro::net::unix_stream;
namespace bufio = goro::bufio;

namespace {

using goro_test::make_pair;
using goro_test::recording_sink;
using goro_test::run_or_skip;

// Writes data one byte per write, then closes: the reader sees every line
// split across many reads.
template <typename Stream>
task<bool> dribble(Stream s, std::string data) {
    for (char c : data) {
        auto w = co_await s.write_all(&c, 1);
        if (!w) co_return false;
    }
    co_return static_cast<bool>(s.close());
}

// ------------------------------------------------------- in-memory streams

// A source giving data in chunks of at most `chunk` bytes, then 0 (or the
// error `fail`, once, then 0); counts the bytes it gave.
struct string_source {
    std::string data;
    std::size_t chunk = 3;
    std::error_code fail{};
    std::size_t pos = 0;
    std::size_t reads = 0;

    task<goro::result<std::size_t>> read(void* p, std::size_t n) {
        ++reads;
        if (pos == data.size() && fail) co_return std::exchange(fail, {});
        const std::size_t k = std::min({n, chunk, data.size() - pos});
        std::memcpy(p, data.data() + pos, k);
        pos += k;
        co_return k;
    }
};

// An endless source of 'x': only a bounded scanner ends on it.
struct endless_source {
    std::size_t given = 0;
    task<goro::result<std::size_t>> read(void* p, std::size_t n) {
        std::memset(p, 'x', n);
        given += n;
        co_return n;
    }
};

static_assert(bufio::byte_source<tcp_stream>);
static_assert(bufio::byte_source<unix_stream>);
static_assert(bufio::byte_source<goro::fs::file>);
static_assert(bufio::byte_source<bufio::file_at>);
static_assert(bufio::byte_source<string_source&>);
static_assert(bufio::byte_source<bufio::reader<tcp_stream>>);
static_assert(!bufio::byte_sink<string_source>);

const std::string k_lines = "alpha\r\nbeta\n\ngamma";  // the last line has no "\n"

// ------------------------------------------------------------------ reader

template <typename Stream>
task<int> read_line_main() {
    auto p = co_await make_pair(static_cast<Stream*>(nullptr));
    auto feeder = goro::spawn(dribble(p.w, k_lines));
    bufio::reader r(p.r, 16);  // a small buffer: lines also cross refills
    std::vector<std::string> got;
    std::error_code end;
    for (;;) {
        auto line = co_await r.read_line();
        if (!line) {
            end = line.error();
            break;
        }
        got.push_back(*line);
    }
    auto fed = co_await std::move(feeder);
    REQUIRE(fed);
    REQUIRE(got == std::vector<std::string>{"alpha", "beta", "", "gamma"});
    REQUIRE(end == goro::io_errc::eof);
    // The end stays the end: the stream reads 0 again.
    auto again = co_await r.read_line();
    REQUIRE(again.error() == goro::io_errc::eof);
    co_return 0;
}

TEST_CASE("reader: read_line reassembles lines written a byte at a time, \\r\\n and a last line without \\n",
          "[bufio]") {
    run_or_skip(read_line_main<tcp_stream>());
    run_or_skip(read_line_main<unix_stream>());
    run_or_skip(read_line_main<tcp_stream>(), 1);
}

template <typename Stream>
task<int> read_until_main() {
    auto p = co_await make_pair(static_cast<Stream*>(nullptr));
    auto feeder = goro::spawn(dribble(p.w, std::string("a;bb;;ccc")));
    bufio::reader r(p.r);
    std::vector<std::string> got;
    std::error_code end;
    for (;;) {
        auto part = co_await r.read_until(';');
        if (!part) {
            end = part.error();
            break;
        }
        got.push_back(*part);
    }
    auto fed = co_await std::move(feeder);
    REQUIRE(fed);
    // The delimiter is kept; the part before the end comes without it.
    REQUIRE(got == std::vector<std::string>{"a;", "bb;", ";", "ccc"});
    REQUIRE(end == goro::io_errc::eof);
    co_return 0;
}

TEST_CASE("reader: read_until keeps the delimiter, the end comes after the partial data", "[bufio]") {
    run_or_skip(read_until_main<tcp_stream>());
    run_or_skip(read_until_main<unix_stream>());
}

template <typename Stream>
task<int> empty_stream_main() {
    auto p = co_await make_pair(static_cast<Stream*>(nullptr));
    REQUIRE(p.w.close());
    bufio::reader r(p.r);
    auto line = co_await r.read_line();
    REQUIRE(line.error() == goro::io_errc::eof);
    auto until = co_await r.read_until('x');
    REQUIRE(until.error() == goro::io_errc::eof);
    auto byte = co_await r.read_byte();
    REQUIRE(byte.error() == goro::io_errc::eof);
    auto pk = co_await r.peek(1);
    REQUIRE(pk.error() == goro::io_errc::eof);
    char buf[8];
    auto n = co_await r.read(buf, sizeof buf);  // read() keeps the streams' convention: 0
    REQUIRE(n);
    REQUIRE(*n == 0);
    bufio::scanner sc(p.r);
    auto more = co_await sc.scan();
    REQUIRE_FALSE(more);
    REQUIRE_FALSE(sc.error());  // a clean end is no error
    co_return 0;
}

TEST_CASE("reader and scanner: a stream that ends with nothing read gives EOF, no line", "[bufio]") {
    run_or_skip(empty_stream_main<tcp_stream>());
    run_or_skip(empty_stream_main<unix_stream>());
}

task<int> reader_basics_main() {
    string_source src{.data = "hello, world\nrest"};
    bufio::reader<string_source&> rd(src, 16);
    auto pk = co_await rd.peek(5);
    REQUIRE(pk);
    REQUIRE(*pk == "hello");
    REQUIRE(rd.buffered() >= 5);
    auto b = co_await rd.read_byte();  // peek consumed nothing
    REQUIRE(b);
    REQUIRE(*b == 'h');
    auto full = co_await rd.peek(17);
    REQUIRE(full.error() == bufio::errc::buffer_full);
    REQUIRE(full.error().message() == "bufio: buffer full");
    // read() returns what is buffered without reading the stream again.
    const std::size_t had = rd.buffered();
    const std::size_t reads = src.reads;
    char buf[64];
    auto n = co_await rd.read(buf, sizeof buf);
    REQUIRE(n);
    REQUIRE(*n == had);
    REQUIRE(src.reads == reads);
    REQUIRE(std::string(buf, *n) == std::string("ello, world\nrest").substr(0, had));
    // peek at the end of the stream: what there is, then EOF.
    auto rest = co_await rd.read_until('\n');
    REQUIRE(rest);
    auto tail = co_await rd.peek(10);
    REQUIRE(tail);
    REQUIRE(*tail == "rest");
    auto last = co_await rd.read_line();
    REQUIRE(last);
    REQUIRE(*last == "rest");
    auto end = co_await rd.peek(1);
    REQUIRE(end.error() == goro::io_errc::eof);

    // A large read with an empty buffer goes straight to the stream.
    string_source big{.data = std::string(100, 'b'), .chunk = 1000};
    bufio::reader<string_source&> rb(big, 16);
    std::string out(100, '\0');
    auto nb = co_await rb.read(out.data(), out.size());
    REQUIRE(nb);
    REQUIRE(*nb == 100);
    REQUIRE(rb.buffered() == 0);
    REQUIRE(out == big.data);
    co_return 0;
}

TEST_CASE("reader: peek, read_byte, read from the buffer, buffer_full, large reads bypass the buffer", "[bufio]") {
    run_or_skip(reader_basics_main());
}

task<int> reader_error_main() {
    const std::error_code timeout = goro::net::errc::timeout;
    string_source src{.data = "one\ntw", .fail = timeout};
    bufio::reader<string_source&> r(src);
    auto one = co_await r.read_line();
    REQUIRE(one);
    REQUIRE(*one == "one");
    auto partial = co_await r.read_until('\n');  // the data first ...
    REQUIRE(partial);
    REQUIRE(*partial == "tw");
    auto err = co_await r.read_until('\n');  // ... then the error, once
    REQUIRE(err.error() == timeout);
    src.data += "o\n";  // the stream recovers: the reader reads it again
    auto after = co_await r.read_line();
    REQUIRE(after);
    REQUIRE(*after == "o");

    // The scanner hands out the bytes before the error as a last line.
    string_source s2{.data = "x\ny", .fail = timeout};
    bufio::scanner<string_source&> sc(s2);
    std::vector<std::string> got;
    while (co_await sc.scan()) got.push_back(sc.text());
    REQUIRE(got == std::vector<std::string>{"x", "y"});
    REQUIRE(sc.error() == timeout);
    co_return 0;
}

TEST_CASE("reader and scanner: the data before a read error come first, then the error", "[bufio]") {
    run_or_skip(reader_error_main());
}

task<int> many_lines_main() {
    // Most calls are answered from the buffer, without a coroutine frame: a
    // long run of them keeps the stack flat even where symmetric transfer is
    // no tail call (sanitizer builds).
    std::string data;
    constexpr int k_count = 100000;
    for (int i = 0; i < k_count; ++i) data += std::to_string(i) + "\n";
    string_source s1{.data = data, .chunk = 1 << 20};
    bufio::reader<string_source&> r(s1);
    int lines = 0;
    bool in_order = true;
    for (;;) {
        auto line = co_await r.read_line();
        if (!line) break;
        in_order = in_order && *line == std::to_string(lines++);
    }
    REQUIRE(in_order);
    REQUIRE(lines == k_count);
    string_source s2{.data = data, .chunk = 1 << 20};
    bufio::scanner<string_source&> sc(s2);
    int scanned = 0;
    while (co_await sc.scan()) ++scanned;
    REQUIRE(scanned == k_count);
    string_source s3{.data = data, .chunk = 1 << 20};
    bufio::reader<string_source&> rb(s3);
    std::size_t bytes = 0;
    for (;;) {
        auto b = co_await rb.read_byte();
        if (!b) break;
        ++bytes;
    }
    REQUIRE(bytes == data.size());
    recording_sink sink;
    bufio::writer<recording_sink&> w(sink);
    bool all_ok = true;
    for (char c : data) {
        auto wb = co_await w.write_byte(c);
        all_ok = all_ok && wb;
    }
    REQUIRE(all_ok);
    auto f = co_await w.flush();
    REQUIRE(f);
    REQUIRE(sink.data == data);
    co_return 0;
}

TEST_CASE("reader, scanner, writer: a long run of calls answered by the buffer", "[bufio]") {
    run_or_skip(many_lines_main());
}

// ----------------------------------------------------------------- scanner

template <typename Stream>
task<int> scanner_lines_main() {
    auto p = co_await make_pair(static_cast<Stream*>(nullptr));
    auto feeder = goro::spawn(dribble(p.w, k_lines + "\r\n\r\nlast\r"));
    bufio::scanner sc(p.r);
    std::vector<std::string> got;
    while (co_await sc.scan()) got.push_back(sc.text());
    auto fed = co_await std::move(feeder);
    REQUIRE(fed);
    REQUIRE(got == std::vector<std::string>{"alpha", "beta", "", "gamma", "", "last"});
    REQUIRE_FALSE(sc.error());
    auto again = co_await sc.scan();
    REQUIRE_FALSE(again);
    co_return 0;
}

TEST_CASE("scanner: lines written a byte at a time, \\r\\n dropped, a last line without \\n", "[bufio]") {
    run_or_skip(scanner_lines_main<tcp_stream>());
    run_or_skip(scanner_lines_main<unix_stream>());
}

template <typename Stream>
task<int> scanner_too_long_main() {
    auto p = co_await make_pair(static_cast<Stream*>(nullptr));
    const std::string data = "short\n" + std::string(100, 'm') + "\n" + std::string(101, 'L') + "\nafter\n";
    auto feeder = goro::spawn([](Stream s, std::string d) -> task<bool> {
        auto w = co_await s.write_all(d);
        co_return w && s.close();
    }(p.w, data));
    bufio::scanner sc(p.r, 100);
    std::vector<std::string> got;
    while (co_await sc.scan()) got.push_back(sc.text());
    auto fed = co_await std::move(feeder);
    REQUIRE(fed);
    // A line of exactly the maximum passes; the longer one ends the scan.
    REQUIRE(got == std::vector<std::string>{"short", std::string(100, 'm')});
    REQUIRE(sc.error() == bufio::errc::too_long);
    REQUIRE(sc.error().message() == "bufio.Scanner: token too long");
    REQUIRE(std::string(sc.error().category().name()) == "goro.bufio");
    auto again = co_await sc.scan();
    REQUIRE_FALSE(again);
    co_return 0;
}

TEST_CASE("scanner: a line over the maximum is errc::too_long, one of exactly the maximum passes", "[bufio]") {
    run_or_skip(scanner_too_long_main<tcp_stream>());
    run_or_skip(scanner_too_long_main<unix_stream>());
}

task<int> scanner_bounds_main() {
    // An endless line: the scanner stops with too_long after reading at most
    // the maximum plus "\r\n", instead of growing without bound.
    endless_source endless;
    bufio::scanner<endless_source&> sc(endless);
    auto got = co_await sc.scan();
    REQUIRE_FALSE(got);
    REQUIRE(sc.error() == bufio::errc::too_long);
    REQUIRE(endless.given <= bufio::default_max_token_size + 2);
    REQUIRE(endless.given >= bufio::default_max_token_size);
    endless_source e2;
    bufio::scanner<endless_source&> small(e2);
    small.buffer(10);
    auto s2 = co_await small.scan();
    REQUIRE_FALSE(s2);
    REQUIRE(small.error() == bufio::errc::too_long);
    REQUIRE(e2.given <= 12);

    // Exactly the maximum, with each line ending, and at the end of stream.
    string_source src{.data = std::string(10, 'a') + "\n" + std::string(10, 'b') + "\r\n" + std::string(10, 'c'),
                      .chunk = 4};
    bufio::scanner<string_source&> exact(src, 10);
    std::vector<std::string> lines;
    while (co_await exact.scan()) lines.push_back(std::string(exact.bytes()));
    REQUIRE(lines == std::vector<std::string>{std::string(10, 'a'), std::string(10, 'b'), std::string(10, 'c')});
    REQUIRE_FALSE(exact.error());

    // One over: at the end of stream too.
    string_source over{.data = "ok\n" + std::string(11, 'z')};
    bufio::scanner<string_source&> sc3(over, 10);
    std::vector<std::string> l3;
    while (co_await sc3.scan()) l3.push_back(sc3.text());
    REQUIRE(l3 == std::vector<std::string>{"ok"});
    REQUIRE(sc3.error() == bufio::errc::too_long);
    co_return 0;
}

TEST_CASE("scanner: memory stays bounded on an endless line; the maximum is the line without its ending",
          "[bufio]") {
    run_or_skip(scanner_bounds_main());
}

}  // namespace
