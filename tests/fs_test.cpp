// goro::fs: files through io_uring (open, read/write at offsets and at the
// cursor, fsync, close, read_file/write_file).
//
// No co_await inside a REQUIRE (see net_test.cpp): await first, then assert.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <string>

#include "goro.hpp"

using goro::task;
namespace fs = goro::fs;

namespace {

bool g_no_uring = false;

template <typename T>
void run_or_skip(task<T> main, unsigned procs) {
    if (g_no_uring) return;
    try {
        goro::run(std::move(main), {.procs = procs});
    } catch (const goro::startup_error& e) {
        g_no_uring = true;
        WARN("SKIPPED: io_uring unavailable: " << e.what());
    }
}

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

}  // namespace
