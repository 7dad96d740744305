// goro::bufio (io/bufio.hpp), the writing side: the buffered writer over
// TCP and Unix streams and over an in-memory sink that records each write;
// the reader, scanner and writer over files (at the cursor and at an offset);
// readers and writers composed with each other. The reader and scanner:
// bufio_reader_test.cpp.
//
// No co_await inside a REQUIRE (see support/io_runtime.hpp): await first,
// then assert. Assertions run in the main task, after the tasks they check
// were joined.
#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstddef>
#include <string>
#include <system_error>
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
using goro_test::tcp_pair;

std::string temp_path(const char* name) {
    return "/tmp/goro-bufio-test-" + std::to_string(::getpid()) + "-" + name;
}

// Reads everything until EOF.
template <typename Stream>
task<std::string> drain(Stream s) {
    std::string out;
    char buf[8192];
    for (;;) {
        auto n = co_await s.read(buf, sizeof buf);
        if (!n || *n == 0) break;
        out.append(buf, *n);
    }
    co_return out;
}

static_assert(bufio::byte_sink<tcp_stream>);
static_assert(bufio::byte_sink<goro::fs::file>);
static_assert(bufio::byte_sink<bufio::file_at>);
static_assert(bufio::byte_sink<bufio::writer<unix_stream>>);

// ------------------------------------------------------------------- files

task<int> file_main(std::string path) {
    {
        auto w = co_await goro::fs::write_file(path, "one\r\ntwo\nthree");
        REQUIRE(w);
    }
    auto f = co_await goro::fs::file::open(path);
    REQUIRE(f);
    {
        bufio::reader r(*f, 16);  // at the file's cursor
        std::vector<std::string> got;
        for (;;) {
            auto line = co_await r.read_line();
            if (!line) {
                REQUIRE(line.error() == goro::io_errc::eof);
                break;
            }
            got.push_back(*line);
        }
        REQUIRE(got == std::vector<std::string>{"one", "two", "three"});
    }
    {
        bufio::scanner sc(bufio::file_at(*f, 5));  // from an offset, the cursor untouched
        std::vector<std::string> got;
        while (co_await sc.scan()) got.push_back(sc.text());
        REQUIRE_FALSE(sc.error());
        REQUIRE(got == std::vector<std::string>{"two", "three"});
        REQUIRE(sc.stream().offset() == 14);
    }
    REQUIRE(f->close());

    // Writing: at an offset kept by file_at, flushed into the file.
    const std::string out_path = path + ".out";
    auto o = co_await goro::fs::file::create(out_path);
    REQUIRE(o);
    bufio::writer w(bufio::file_at(*o), 32);
    std::string expect;
    for (int i = 0; i < 100; ++i) {
        const std::string line = "line " + std::to_string(i) + "\n";
        expect += line;
        auto n = co_await w.write_string(line);
        REQUIRE(n);
        REQUIRE(*n == line.size());
    }
    auto fl = co_await w.flush();
    REQUIRE(fl);
    REQUIRE(w.buffered() == 0);
    REQUIRE(o->close());
    auto back = co_await goro::fs::read_file(out_path);
    REQUIRE(back);
    REQUIRE(*back == expect);
    ::unlink(path.c_str());
    ::unlink(out_path.c_str());
    co_return 0;
}

TEST_CASE("reader, scanner and writer over files: at the cursor and at an offset (file_at)", "[bufio]") {
    run_or_skip(file_main(temp_path("file")));
}

// ------------------------------------------------------------------ writer

template <typename Stream>
task<int> writer_main() {
    auto p = co_await make_pair(static_cast<Stream*>(nullptr));
    auto peer = goro::spawn(drain(p.r));
    bufio::writer w(p.w);
    REQUIRE(w.available() == bufio::default_buffer_size);
    std::string expect;
    for (int i = 0; i < 2000; ++i) {
        const std::string line = "message " + std::to_string(i) + "\n";
        expect += line;
        auto n = co_await w.write(line);
        REQUIRE(n);
    }
    auto b = co_await w.write_byte('!');
    REQUIRE(b);
    expect += '!';
    REQUIRE(w.buffered() + w.available() == w.size());
    REQUIRE(w.buffered() > 0);
    auto fl = co_await w.flush();
    REQUIRE(fl);
    REQUIRE(w.buffered() == 0);
    // A large write with an empty buffer passes straight through.
    std::string big(1 << 20, '\0');
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 23);
    auto nb = co_await w.write(big);
    REQUIRE(nb);
    REQUIRE(*nb == big.size());
    REQUIRE(w.buffered() == 0);
    expect += big;
    REQUIRE(p.w.close());
    auto got = co_await std::move(peer);
    REQUIRE(got == expect);
    co_return 0;
}

TEST_CASE("writer: many small writes and one flush reach the peer in order; a large write passes through",
          "[bufio]") {
    run_or_skip(writer_main<tcp_stream>());
    run_or_skip(writer_main<unix_stream>());
}

task<int> writer_sink_main() {
    recording_sink sink;
    bufio::writer<recording_sink&> w(sink, 16);
    // Flushing an empty writer writes nothing.
    auto f0 = co_await w.flush();
    REQUIRE(f0);
    REQUIRE(sink.writes.empty());
    // Small writes stay in the buffer.
    for (int i = 0; i < 5; ++i) {
        auto n = co_await w.write("abc");
        REQUIRE(n);
    }
    REQUIRE(sink.writes.empty());
    REQUIRE(w.buffered() == 15);
    // Overflow: the buffer is topped up and written as one, the rest buffered.
    auto n = co_await w.write("xyz");
    REQUIRE(n);
    REQUIRE(sink.writes == std::vector<std::size_t>{16});
    REQUIRE(w.buffered() == 2);
    auto f1 = co_await w.flush();
    REQUIRE(f1);
    REQUIRE(sink.data == "abcabcabcabcabcxyz");
    // Large write, empty buffer: one write of all of it, no copy.
    sink.writes.clear();
    const std::string big(100, 'q');
    auto nb = co_await w.write(big);
    REQUIRE(nb);
    REQUIRE(sink.writes == std::vector<std::size_t>{100});
    REQUIRE(w.buffered() == 0);
    // Short writes are continued until all is written.
    sink.data.clear();
    sink.writes.clear();
    sink.max_accept = 7;
    auto ns = co_await w.write(big);
    REQUIRE(ns);
    REQUIRE(sink.data == big);
    REQUIRE(sink.writes.size() == 15);

    // A sink that accepts nothing: errc::short_write, sticky.
    recording_sink zero;
    zero.max_accept = 0;
    bufio::writer<recording_sink&> wz(zero, 16);
    auto z = co_await wz.write_string("abc");
    REQUIRE(z);
    auto zf = co_await wz.flush();
    REQUIRE(zf.error() == bufio::errc::short_write);
    REQUIRE(wz.buffered() == 3);  // what was not written stays
    co_return 0;
}

TEST_CASE("writer: empty flush writes nothing, overflow writes one full buffer, short writes continue",
          "[bufio]") {
    run_or_skip(writer_sink_main());
}

task<int> sticky_main() {
    // The peer is gone: EPIPE from the first write that reaches the stream,
    // then the same error from every write and flush.
    {
        auto [a, b] = unix_stream::pair().value();
        REQUIRE(b.close());
        bufio::writer w(a);
        auto n = co_await w.write_string("buffered, not yet sent");
        REQUIRE(n);
        auto f = co_await w.flush();
        REQUIRE_FALSE(f);
        const std::error_code err = f.error();
        REQUIRE(err == std::errc::broken_pipe);
        REQUIRE(w.error() == err);
        REQUIRE(w.buffered() == 22);
        auto n2 = co_await w.write_string("more");
        REQUIRE(n2.error() == err);
        auto b2 = co_await w.write_byte('x');
        REQUIRE(b2.error() == err);
        auto f2 = co_await w.flush();
        REQUIRE(f2.error() == err);
        REQUIRE(w.buffered() == 22);
    }
    // Over TCP the peer's reset arrives after some writes succeed: keep
    // writing until the error, then it sticks.
    {
        auto p = co_await tcp_pair();
        REQUIRE(p.server.close());
        bufio::writer w(p.client);
        const std::string chunk(4096, 'c');
        std::error_code err;
        for (int i = 0; i < 100000 && !err; ++i) {
            auto n = co_await w.write(chunk);
            if (!n) err = n.error();
        }
        REQUIRE(err);
        auto n2 = co_await w.write("x");
        REQUIRE(n2.error() == err);
        auto f2 = co_await w.flush();
        REQUIRE(f2.error() == err);
    }
    // Our own stream closed: net::errc::closed, sticky.
    {
        auto [a, b] = unix_stream::pair().value();
        bufio::writer w(a);
        auto n = co_await w.write_string("x");
        REQUIRE(n);
        REQUIRE(a.close());
        auto f = co_await w.flush();
        REQUIRE(f.error() == goro::net::errc::closed);
        auto f2 = co_await w.flush();
        REQUIRE(f2.error() == goro::net::errc::closed);
    }
    co_return 0;
}

TEST_CASE("writer: the first error is sticky (peer closed, reset, own stream closed)", "[bufio]") {
    run_or_skip(sticky_main());
}

// Reader and writer compose with each other: a scanner over a reader, a
// writer over a writer.
task<int> compose_main() {
    auto [a, b] = unix_stream::pair().value();
    auto feeder = goro::spawn([](unix_stream s) -> task<bool> {
        bufio::writer inner(s, 64);
        bufio::writer<bufio::writer<unix_stream>&> outer(inner, 16);
        for (int i = 0; i < 50; ++i) {
            auto n = co_await outer.write_string("row " + std::to_string(i) + "\n");
            if (!n) co_return false;
        }
        auto f1 = co_await outer.flush();
        auto f2 = co_await inner.flush();
        co_return f1 && f2 && s.close();
    }(a));
    bufio::reader r(b, 32);
    bufio::scanner<bufio::reader<unix_stream>&> sc(r);
    int count = 0;
    bool in_order = true;
    while (co_await sc.scan()) in_order = in_order && sc.text() == "row " + std::to_string(count++);
    auto fed = co_await std::move(feeder);
    REQUIRE(fed);
    REQUIRE(in_order);
    REQUIRE(count == 50);
    REQUIRE_FALSE(sc.error());
    co_return 0;
}

TEST_CASE("bufio: a scanner over a reader, a writer over a writer", "[bufio]") { run_or_skip(compose_main()); }

}  // namespace
