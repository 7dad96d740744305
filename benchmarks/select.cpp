// select: 4 producer tasks, each sending 250,000 ints (1..250,000) on its own
// unbuffered channel; one consumer runs a blocking select over the 4 channels
// 1,000,000 times in total and checks the per-channel counts and the sum.
// Twin of peers/go/select/main.go.
//
// Prints: select <ns per select, median of 3 timed runs after 1 warm-up> ns/op
// Processors: GORO_MAXPROCS.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <goro/goro.hpp>

#include "bench_util.hpp"

namespace {

constexpr int k_producers = 4;
constexpr std::int64_t k_per = 250'000;
constexpr std::int64_t k_total = k_producers * k_per;

goro::task<> producer(goro::chan<std::int64_t> c) {
    for (std::int64_t i = 1; i <= k_per; ++i) co_await c.send(i);
}

goro::task<double> once() {
    goro::chan<std::int64_t> cs[k_producers];
    const auto start = std::chrono::steady_clock::now();
    for (auto& c : cs) goro::go(producer(c));
    std::int64_t counts[k_producers] = {};
    std::int64_t sum = 0;
    auto take = [&](std::optional<std::int64_t> v) { sum += *v; };
    for (std::int64_t i = 0; i < k_total; ++i) {
        const int k = co_await goro::select{cs[0].recv_case(take), cs[1].recv_case(take), cs[2].recv_case(take),
                                            cs[3].recv_case(take)};
        ++counts[k];
    }
    const auto el = std::chrono::steady_clock::now() - start;
    const std::int64_t want = k_producers * k_per * (k_per + 1) / 2;
    for (int p = 0; p < k_producers; ++p) {
        if (counts[p] != k_per) {
            std::fprintf(stderr, "select: channel %d delivered %lld, want %lld\n", p,
                         static_cast<long long>(counts[p]), static_cast<long long>(k_per));
            std::exit(1);
        }
    }
    if (sum != want) {
        std::fprintf(stderr, "select: sum %lld, want %lld\n", static_cast<long long>(sum), static_cast<long long>(want));
        std::exit(1);
    }
    co_return std::chrono::duration<double, std::nano>(el).count() / static_cast<double>(k_total);
}

goro::task<double> timed_median() { return bench::median_after_warmup(once, 3); }

}  // namespace

int main() {
    const double ns = goro::run(timed_median());
    std::printf("select %.2f ns/op\n", ns);
}
