// copy — copies a file through goro::fs: every open, read, write and fsync
// is an io_uring request, so the task waits on the disk without holding a
// thread. Reading the next block overlaps writing the previous one (two
// tasks hand buffers over a channel-free double buffer: read, then write
// while the next read is in flight).
//
// Run:  build-release/samples/copy SRC DST
//       build-release/samples/copy          (copies a generated temporary file and checks it)
#include <goro/goro.hpp>

#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

namespace {

constexpr std::size_t k_block = 256 * 1024;

goro::task<int> copy(std::string src, std::string dst) {
    auto in = co_await goro::fs::file::open(src, O_RDONLY);
    if (!in) {
        std::fprintf(stderr, "copy: open %s: %s\n", src.c_str(), in.error().message().c_str());
        co_return 1;
    }
    auto out = co_await goro::fs::file::create(dst);
    if (!out) {
        std::fprintf(stderr, "copy: create %s: %s\n", dst.c_str(), out.error().message().c_str());
        co_return 1;
    }
    std::vector<char> a(k_block), b(k_block);
    std::uint64_t offset = 0;
    auto n = co_await in->read_at(a.data(), a.size(), 0);
    while (n && *n > 0) {
        // Start writing block k while reading block k+1.
        auto writing = goro::spawn([](goro::fs::file f, const char* p, std::size_t len, std::uint64_t off) -> goro::task<bool> {
            while (len > 0) {
                auto w = co_await f.write_at(p, len, off);
                if (!w || *w == 0) co_return false;
                p += *w, len -= *w, off += *w;
            }
            co_return true;
        }(*out, a.data(), *n, offset));
        offset += *n;
        auto next = co_await in->read_at(b.data(), b.size(), offset);
        if (!(co_await std::move(writing))) {
            std::fprintf(stderr, "copy: write failed\n");
            co_return 1;
        }
        n = next;
        std::swap(a, b);
    }
    if (!n) {
        std::fprintf(stderr, "copy: read: %s\n", n.error().message().c_str());
        co_return 1;
    }
    auto synced = co_await out->fsync();
    if (!synced || !out->close()) {
        std::fprintf(stderr, "copy: fsync/close failed\n");
        co_return 1;
    }
    std::printf("copied %llu bytes from %s to %s\n", static_cast<unsigned long long>(offset), src.c_str(), dst.c_str());
    co_return 0;
}

goro::task<int> demo() {
    const std::string src = "/tmp/goro-copy-demo-" + std::to_string(::getpid());
    std::string data;
    for (int i = 0; data.size() < 3 * k_block + 123; ++i) data += "line " + std::to_string(i) + "\n";
    if (!(co_await goro::fs::write_file(src, data))) co_return 1;
    const int rc = co_await copy(src, src + ".copy");
    auto back = co_await goro::fs::read_file(src + ".copy");
    const bool same = back && *back == data;
    std::printf("the copy is %s\n", same ? "identical" : "DIFFERENT");
    ::unlink(src.c_str());
    ::unlink((src + ".copy").c_str());
    co_return rc == 0 && same ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc == 3) return goro::run(copy(argv[1], argv[2]));
    return goro::run(demo());
}
