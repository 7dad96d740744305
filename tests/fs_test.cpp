// goro::fs: files through io_uring (open, read/write at offsets and at the
// cursor, fsync, close, read_file/write_file).
//
// No co_await inside a REQUIRE (see support/io_runtime.hpp): await first, then assert.
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <string>

#include <goro/goro.hpp>
#include "support/io_runtime.hpp"
#include "support/ctx_check.hpp"

using namespace std::chrono_literals;
using goro::task;
namespace fs = goro::fs;

namespace {

using goro_test::run_or_skip;

std::string temp_path(const char* name) {
    return "/tmp/goro-fs-test-" + std::to_string(::getpid()) + "-" + name;
}

task<int> round_trip_main(std::string path) {
    std::string data(300000, '\0');
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7 + 3);
    {
        auto w = co_await fs::write_file(path, data);
        REQUIRE(w);
    }
    auto back = co_await fs::read_file(path);
    REQUIRE(back);
    REQUIRE(*back == data);

    // Offsets and the cursor.
    auto f = co_await fs::file::open(path, O_RDWR);
    REQUIRE(f);
    auto w = co_await f->write_at("HELLO", 5, 10);
    REQUIRE(w);
    REQUIRE(*w == 5);
    char buf[5];
    auto r = co_await f->read_at(buf, 5, 10);
    REQUIRE(r);
    REQUIRE(std::string(buf, *r) == "HELLO");
    auto c1 = co_await f->read(buf, 3);  // cursor at 0
    REQUIRE(c1);
    REQUIRE(*c1 == 3);
    REQUIRE(std::string(buf, 3) == data.substr(0, 3));
    auto c2 = co_await f->read(buf, 2);  // cursor advanced
    REQUIRE(c2);
    REQUIRE(std::string(buf, 2) == data.substr(3, 2));
    auto eof = co_await f->read_at(buf, 5, data.size());
    REQUIRE(eof);
    REQUIRE(*eof == 0);
    auto s = co_await f->fsync();
    REQUIRE(s);
    auto ds = co_await f->fdatasync();
    REQUIRE(ds);
    REQUIRE(f->close());
    REQUIRE(f->close().error() == goro::net::errc::closed);
    auto after = co_await f->read(buf, 1);
    REQUIRE(after.error() == goro::net::errc::closed);

    // Cursor writes append in order.
    auto g = co_await fs::file::create(path);
    REQUIRE(g);
    auto wa = co_await g->write_all("one ");
    REQUIRE(wa);
    auto wb = co_await g->write_all("two");
    REQUIRE(wb);
    REQUIRE(g->close());
    auto text = co_await fs::read_file(path);
    REQUIRE(text);
    REQUIRE(*text == "one two");

    // Errors are values.
    auto missing = co_await fs::file::open(path + ".missing");
    REQUIRE(missing.error() == std::errc::no_such_file_or_directory);
    auto missing2 = co_await fs::read_file(path + ".missing");
    REQUIRE(missing2.error() == std::errc::no_such_file_or_directory);
    ::unlink(path.c_str());
    co_return 0;
}

TEST_CASE("fs: files round-trip through the ring (write_file, read_file, offsets, cursor, fsync, close)", "[fs]") {
    for (unsigned procs : {1u, 2u}) run_or_skip(round_trip_main(temp_path("rt")), procs);
}

task<int> many_files_main(std::string base) {
    // Many tasks reading and writing their own files at once.
    std::vector<goro::join_handle<bool>> hs;
    for (int i = 0; i < 64; ++i) {
        hs.push_back(goro::spawn([](std::string path, int i) -> task<bool> {
            const std::string content(1000 + i * 37, static_cast<char>('a' + i % 26));
            auto w = co_await fs::write_file(path, content);
            if (!w) co_return false;
            auto r = co_await fs::read_file(path);
            ::unlink(path.c_str());
            co_return r && *r == content;
        }(base + std::to_string(i), i)));
    }
    int ok = 0;
    for (auto& h : hs) {
        const bool b = co_await std::move(h);
        if (b) ++ok;
    }
    REQUIRE(ok == 64);
    co_return 0;
}

TEST_CASE("fs: 64 tasks write and read their own files concurrently [stress]", "[fs][stress]") {
    for (unsigned procs : {1u, 4u}) run_or_skip(many_files_main(temp_path("many-")), procs);
}

// ---------------------------------------------------------------- contexts
//
// A regular file's reads and writes finish too fast to be cancelled in
// flight; pipes and eventfds block, so they carry the "woken by cancel" cases.

task<std::error_code> read_cursor(fs::file f, std::size_t n, goro::context ctx) {
    char buf[64];
    auto r = co_await f.read(buf, n, ctx);
    co_return r ? std::error_code{} : r.error();
}

task<std::error_code> write_cursor(fs::file f, std::string data, goro::context ctx) {
    auto r = co_await f.write(data.data(), data.size(), ctx);
    co_return r ? std::error_code{} : r.error();
}

task<std::error_code> read_at_8(fs::file f, goro::context ctx) {
    std::uint64_t v = 0;
    auto r = co_await f.read_at(&v, sizeof v, 0, ctx);
    co_return r ? std::error_code{} : r.error();
}

task<std::error_code> write_at_1(fs::file f, goro::context ctx) {
    const std::uint64_t one = 1;
    auto r = co_await f.write_at(&one, sizeof one, 0, ctx);
    co_return r ? std::error_code{} : r.error();
}

task<std::error_code> write_all_ctx(fs::file f, std::string data, goro::context ctx) {
    auto r = co_await f.write_all(data, std::move(ctx));
    co_return r ? std::error_code{} : r.error();
}

// Writes into the pipe until it is full (O_NONBLOCK only for that: io_uring
// reports EAGAIN instead of waiting on a file opened non-blocking).
std::size_t fill_pipe(int fd) {
    ::fcntl(fd, F_SETPIPE_SZ, 4096);
    const int fl = ::fcntl(fd, F_GETFL);
    ::fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    const std::string chunk(4096, 'f');
    std::size_t filled = 0;
    for (;;) {
        const ssize_t n = ::write(fd, chunk.data(), chunk.size());
        if (n <= 0) break;
        filled += static_cast<std::size_t>(n);
    }
    ::fcntl(fd, F_SETFL, fl);
    return filled;
}

task<int> ctx_pipe_main() {
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    fs::file r(fds[0]), w(fds[1]);
    // read at the cursor: an empty pipe whose writer stays open.
    co_await goro_test::expect_ctx_wakes([&](goro::context c) { return read_cursor(r, 1, std::move(c)); });
    {
        auto put = co_await w.write("a", 1);
        REQUIRE(put);
        co_await goro_test::expect_ctx_done_fails_at_once([&](goro::context c) { return read_cursor(r, 1, std::move(c)); });
        // The byte is still there, and a read under a live context gets it;
        // then nothing is registered and cancelling is harmless.
        auto [ctx, cancel] = goro::with_cancel(goro::background());
        char c = 0;
        auto got = co_await r.read(&c, 1, ctx);
        REQUIRE(got);
        REQUIRE(*got == 1);
        REQUIRE(c == 'a');
        auto h = goro::spawn(read_cursor(r, 1, ctx));
        co_await goro_test::until_registered(ctx);
        auto put2 = co_await w.write("b", 1);
        REQUIRE(put2);
        const std::error_code ec = co_await std::move(h);
        REQUIRE_FALSE(ec);
        REQUIRE(ctx.debug_callbacks() == 0);
        cancel();
    }
    // write at the cursor: a full pipe nobody reads.
    const std::size_t filled = fill_pipe(fds[1]);
    REQUIRE(filled > 0);
    co_await goro_test::expect_ctx_wakes([&](goro::context c) { return write_cursor(w, "X", std::move(c)); });
    co_await goro_test::expect_ctx_wakes([&](goro::context c) { return write_all_ctx(w, "XX", std::move(c)); });
    co_await goro_test::expect_ctx_done_fails_at_once([&](goro::context c) { return write_cursor(w, "X", std::move(c)); });
    {
        // A parked write completes once the reader makes room; the cancelled
        // ones wrote nothing.
        auto [ctx, cancel] = goro::with_cancel(goro::background());
        auto h = goro::spawn(write_cursor(w, "w", ctx));
        co_await goro_test::until_registered(ctx);
        std::string drained;
        while (drained.size() < filled + 1) {
            char buf[4096];
            auto n = co_await r.read(buf, sizeof buf);
            REQUIRE(n);
            REQUIRE(*n > 0);
            drained.append(buf, *n);
        }
        const std::error_code ec = co_await std::move(h);
        REQUIRE_FALSE(ec);
        REQUIRE(ctx.debug_callbacks() == 0);
        cancel();
        REQUIRE(drained == std::string(filled, 'f') + "w");
    }
    co_return 0;
}

TEST_CASE("fs context: read and write on a pipe are woken by cancel and by a deadline", "[fs][ctx]") {
    for (unsigned procs : {1u, 4u}) run_or_skip(ctx_pipe_main(), procs);
}

task<int> ctx_at_main(std::string path) {
    // read_at / write_at on an eventfd: a read waits for a non-zero counter,
    // a write for room below the counter's maximum.
    const int efd = ::eventfd(0, EFD_CLOEXEC);
    REQUIRE(efd >= 0);
    fs::file e(efd);
    co_await goro_test::expect_ctx_wakes([&](goro::context c) { return read_at_8(e, std::move(c)); });
    const std::uint64_t almost_full = 0xfffffffffffffffe;
    REQUIRE(::write(efd, &almost_full, sizeof almost_full) == sizeof almost_full);
    co_await goro_test::expect_ctx_wakes([&](goro::context c) { return write_at_1(e, std::move(c)); });
    co_await goro_test::expect_ctx_done_fails_at_once([&](goro::context c) { return write_at_1(e, std::move(c)); });
    // Done already: read_at fails at once although the counter is set; the
    // counter is left as it was (the cancelled writes added nothing).
    co_await goro_test::expect_ctx_done_fails_at_once([&](goro::context c) { return read_at_8(e, std::move(c)); });
    {
        auto [ctx, cancel] = goro::with_cancel(goro::background());
        std::uint64_t v = 0;
        auto r = co_await e.read_at(&v, sizeof v, 0, ctx);
        REQUIRE(r);
        REQUIRE(v == almost_full);
        REQUIRE(ctx.debug_callbacks() == 0);
        cancel();
    }
    // A regular file: completed operations, then cancel; a done context
    // writes nothing.
    auto f = co_await fs::file::open(path, O_RDWR | O_CREAT | O_TRUNC);
    REQUIRE(f);
    {
        auto [ctx, cancel] = goro::with_cancel(goro::background());
        auto w = co_await f->write_at("hello", 5, 0, ctx);
        REQUIRE(w);
        REQUIRE(*w == 5);
        char buf[5];
        auto r = co_await f->read_at(buf, 5, 0, ctx);
        REQUIRE(r);
        REQUIRE(std::string(buf, *r) == "hello");
        auto wc = co_await f->write("abc", 3, ctx);
        REQUIRE(wc);
        auto wa = co_await f->write_all("de", ctx);
        REQUIRE(wa);
        REQUIRE(ctx.debug_callbacks() == 0);
        cancel();
        auto late = co_await f->write_at("XXXXX", 5, 0, ctx);
        REQUIRE(late.error() == goro::context_errc::canceled);
        auto late_all = co_await f->write_all("XX", ctx);
        REQUIRE(late_all.error() == goro::context_errc::canceled);
        auto late_read = co_await f->read(buf, 5, ctx);
        REQUIRE(late_read.error() == goro::context_errc::canceled);
    }
    REQUIRE(f->close());
    auto text = co_await fs::read_file(path);
    REQUIRE(text);
    REQUIRE(*text == "abcde");
    // A closed file reports closed whatever the context.
    {
        auto [ctx, cancel] = goro::with_cancel(goro::background());
        char c;
        auto r = co_await f->read(&c, 1, ctx);
        REQUIRE(r.error() == goro::net::errc::closed);
        cancel();
    }
    ::unlink(path.c_str());
    co_return 0;
}

TEST_CASE("fs context: read_at and write_at honour a context; completed ones leave nothing registered", "[fs][ctx]") {
    for (unsigned procs : {1u, 2u}) run_or_skip(ctx_at_main(temp_path("ctx")), procs);
}

task<std::error_code> open_ctx(std::string path, int flags, goro::context ctx) {
    auto f = co_await fs::file::open(std::move(path), flags, 0644, std::move(ctx));
    co_return f ? std::error_code{} : f.error();
}

task<std::error_code> fsync_ctx(fs::file f, goro::context ctx) {
    auto r = co_await f.fsync(ctx);
    co_return r ? std::error_code{} : r.error();
}

// The FIFO half of ctx_open_main: an open waiting in the kernel that a
// context stops. The epoll driver opens with open(2) on the blocking pool,
// which nothing can interrupt (as in Go; README, "Known limits"): there the
// open is not cancellable and this half does not apply.
task<void> ctx_fifo_open(std::string dir) {
    // Opening a FIFO for reading waits for a writer: the open blocks on the
    // ring until the context stops it.
    const std::string fifo = dir + "-fifo";
    ::unlink(fifo.c_str());
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    co_await goro_test::expect_ctx_wakes([&](goro::context c) { return open_ctx(fifo, O_RDONLY, std::move(c)); });
    co_await goro_test::expect_ctx_done_fails_at_once([&](goro::context c) { return open_ctx(fifo, O_RDONLY, std::move(c)); });
    {
        // Under a live context the open completes once a writer comes.
        auto [ctx, cancel] = goro::with_cancel(goro::background());
        auto h = goro::spawn(open_ctx(fifo, O_RDONLY, ctx));
        co_await goro_test::until_registered(ctx);
        // A non-blocking writer's open fails with ENXIO until the reader's
        // open is inside the kernel, waiting.
        int writer;
        while ((writer = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC)) < 0 && errno == ENXIO)
            co_await goro::sleep(1ms);
        const std::error_code ec = co_await std::move(h);
        if (writer >= 0) ::close(writer);
        REQUIRE(writer >= 0);
        REQUIRE_FALSE(ec);
        REQUIRE(ctx.debug_callbacks() == 0);
        cancel();
    }
    ::unlink(fifo.c_str());
}

task<int> ctx_open_main(std::string dir) {
    if (std::string_view(goro::netpoller()) == "io_uring") co_await ctx_fifo_open(dir);
    // A plain file opens under a context, and fsync honours one.
    const std::string path = dir + "-sync";
    auto f = co_await fs::file::open(path, O_RDWR | O_CREAT | O_TRUNC, 0600, goro::background());
    REQUIRE(f);
    co_await goro_test::expect_ctx_done_fails_at_once([&](goro::context c) { return fsync_ctx(*f, std::move(c)); });
    {
        auto [ctx, cancel] = goro::with_timeout(goro::background(), 10s);
        const std::error_code ec = co_await fsync_ctx(*f, ctx);
        REQUIRE_FALSE(ec);
        auto d = co_await f->fdatasync(ctx);
        REQUIRE(d);
        REQUIRE(ctx.debug_callbacks() == 0);
        cancel();
    }
    (void)f->close();
    ::unlink(path.c_str());
    auto missing = co_await fs::file::open(dir + "-missing", O_RDONLY, 0, goro::background());
    REQUIRE(missing.error() == std::errc::no_such_file_or_directory);
    co_return 0;
}

task<int> fifo_open_main(std::string fifo) {
    ::unlink(fifo.c_str());
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    {
        // A reader's open waits for a writer, then reads what it writes.
        auto h = goro::spawn(fs::file::open(fifo, O_RDONLY));
        co_await goro::sleep(20ms);
        REQUIRE_FALSE(h.done());  // no writer yet: still waiting (open(2) semantics)
        int writer;
        while ((writer = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC)) < 0 && errno == ENXIO)
            co_await goro::sleep(1ms);
        REQUIRE(writer >= 0);
        auto r = co_await std::move(h);
        REQUIRE(r);
        REQUIRE(::write(writer, "hi", 2) == 2);
        ::close(writer);
        char buf[8];
        auto n = co_await r->read(buf, sizeof buf);
        REQUIRE(n);
        REQUIRE(std::string(buf, *n) == "hi");
    }
    {
        // A writer's open waits for a reader (where the ring alone says ENXIO).
        auto h = goro::spawn(fs::file::open(fifo, O_WRONLY));
        co_await goro::sleep(20ms);
        REQUIRE_FALSE(h.done());
        const int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);  // never waits
        REQUIRE(reader >= 0);
        auto w = co_await std::move(h);
        REQUIRE(w);
        auto put = co_await w->write("yo", 2);
        REQUIRE(put);
        char buf[8];
        REQUIRE(::read(reader, buf, sizeof buf) == 2);
        ::close(reader);
    }
    {
        // O_NONBLOCK keeps the non-blocking meaning: a writer without a reader fails.
        auto w = co_await fs::file::open(fifo, O_WRONLY | O_NONBLOCK);
        REQUIRE(w.error() == std::errc::no_such_device_or_address);
    }
    ::unlink(fifo.c_str());
    co_return 0;
}

TEST_CASE("fs: opening a FIFO waits for the other end, as open(2) does", "[fs]") {
    for (unsigned procs : {1u, 2u}) run_or_skip(fifo_open_main(temp_path("fifo")), procs);
}

TEST_CASE("fs context: open (a FIFO waiting for a writer) and fsync honour a context", "[fs][ctx]") {
    for (unsigned procs : {1u, 2u}) run_or_skip(ctx_open_main(temp_path("open")), procs);
}

}  // namespace
