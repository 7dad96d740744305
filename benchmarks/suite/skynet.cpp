// Port of tzcnt/runtime-benchmarks' skynet: 100,000,000 leaf tasks, 10
// children per node, 8 levels. Every node but the root is a goroutine
// started with goro::spawn, joined in spawn order (the idiomatic form; the
// suite's peers use their own idioms: libfork forks 9 and calls the 10th,
// TooManyCooks spawns all 10 with spawn_many). One warm-up run, then one
// timed run. Usage: suite_skynet [THREADS]
#include <goro/goro.hpp>

#include <array>
#include <cinttypes>

#include "suite_util.hpp"

namespace {

goro::task<std::size_t> skynet_one(std::size_t base, std::size_t depth, std::size_t depth_max) {
    if (depth == depth_max) co_return base;
    std::size_t offset = 1;
    for (std::size_t i = 0; i < depth_max - depth - 1; ++i) offset *= 10;
    std::array<goro::join_handle<std::size_t>, 10> children;
    for (std::size_t i = 0; i < 10; ++i) children[i] = goro::spawn(skynet_one(base + offset * i, depth + 1, depth_max));
    std::size_t count = 0;
    for (auto& child : children) count += co_await std::move(child);
    co_return count;
}

goro::task<int> skynet(std::size_t depth_max) {
    const std::size_t count = co_await skynet_one(0, 0, depth_max);
    if (count != 4999999950000000ULL) {
        std::printf("ERROR: wrong result - %zu\n", count);
        co_return 1;
    }
    co_return 0;
}

goro::task<int> bench_main() {
    constexpr std::size_t k_depth = 8;
    if (co_await skynet(k_depth) != 0) co_return 1;  // warm-up
    const auto start = std::chrono::steady_clock::now();
    if (co_await skynet(k_depth) != 0) co_return 1;
    suite::print_run(1, start);
    co_return 0;
}

}  // namespace

int main(int argc, char** argv) {
    const unsigned threads = suite::thread_count(argc, argv);
    suite::print_threads(threads);
    return goro::run(bench_main(), {.procs = threads});
}
