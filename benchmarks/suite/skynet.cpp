// Port of tzcnt/runtime-benchmarks' skynet: 100,000,000 leaf tasks, 10
// children per node, 8 levels. Every node but the root is a goroutine
// started with goro::spawn, joined in spawn order (the idiomatic form; the
// suite's peers use their own idioms: libfork forks 9 and calls the 10th,
// TooManyCooks spawns all 10 with spawn_many). suite_skynet_bulk, built from
// this file with SUITE_JOIN_ALL, starts and joins the 10 with one
// goro::join_all<10> over a view that makes them instead (TooManyCooks'
// form: spawn_many<10> over such a view);
// suite_skynet_fj, with SUITE_FJ, runs them with goro::fj::all (children
// made goroutines only when a processor wants work). One warm-up run, then
// one timed run. Usage: suite_skynet[_bulk|_fj] [THREADS [DEPTH]]; DEPTH (1 to 8, default the
// suite's 8: 10^DEPTH leaves) is for instruction counts under callgrind.
#include <goro/goro.hpp>

#include <array>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <ranges>

#include "suite_util.hpp"

namespace {

goro::task<std::size_t> skynet_one(std::size_t base, std::size_t depth, std::size_t depth_max) {
    if (depth == depth_max) co_return base;
    std::size_t offset = 1;
    for (std::size_t i = 0; i < depth_max - depth - 1; ++i) offset *= 10;
    std::size_t count = 0;
#if defined(SUITE_FJ) || defined(SUITE_JOIN_ALL)
    // TooManyCooks' shape: the children made by a view as fj::all or
    // join_all takes them.
    auto children = std::views::iota(std::size_t{0}, std::size_t{10}) |
                    std::views::transform([=](std::size_t i) { return skynet_one(base + offset * i, depth + 1, depth_max); });
#ifdef SUITE_FJ
    for (std::size_t v : co_await goro::fj::all<10>(children)) count += v;
#else
    for (std::size_t v : co_await goro::join_all<10>(children)) count += v;
#endif
#else
    std::array<goro::join_handle<std::size_t>, 10> children;
    for (std::size_t i = 0; i < 10; ++i) children[i] = goro::spawn(skynet_one(base + offset * i, depth + 1, depth_max));
    for (auto& child : children) count += co_await std::move(child);
#endif
    co_return count;
}

goro::task<int> skynet(std::size_t depth_max) {
    const std::size_t count = co_await skynet_one(0, 0, depth_max);
    std::size_t leaves = 1;
    for (std::size_t i = 0; i < depth_max; ++i) leaves *= 10;
    if (count != leaves * (leaves - 1) / 2) {
        std::printf("ERROR: wrong result - %zu\n", count);
        co_return 1;
    }
    co_return 0;
}

goro::task<int> bench_main(std::size_t depth) {
    if (co_await skynet(depth) != 0) co_return 1;  // warm-up
    const auto start = std::chrono::steady_clock::now();
    if (co_await skynet(depth) != 0) co_return 1;
    suite::print_run(1, start);
    co_return 0;
}

}  // namespace

int main(int argc, char** argv) {
    const unsigned threads = suite::thread_count(argc, argv);
    const long depth = argc > 2 ? std::atol(argv[2]) : 8;
    if (depth < 1 || depth > 8) {
        std::fprintf(stderr, "suite_skynet: DEPTH must be 1 to 8\n");
        return 2;
    }
    suite::print_threads(threads);
    return goro::run(bench_main(static_cast<std::size_t>(depth)), {.procs = threads});
}
