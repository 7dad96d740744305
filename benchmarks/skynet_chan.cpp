// skynet_chan: the original skynet benchmark (github.com/atemerev/skynet):
// every node makes an unbuffered channel, starts its 10 children as tasks
// that each send their result on it, receives 10 values and sends the sum to
// its parent. 1,000,000 leaves; the sum must be 499999500000.
// Twin of peers/go/skynet_chan/main.go.
//
// Prints: skynet_chan_1m <median of 5 timed runs after 1 warm-up> ms
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

constexpr std::int64_t k_size = 1'000'000;
constexpr std::int64_t k_div = 10;
constexpr std::int64_t k_expected = 499'999'500'000;

goro::task<> skynet(goro::chan<std::int64_t> c, std::int64_t num, std::int64_t size, std::int64_t div) {
    if (size == 1) {
        co_await c.send(num);
        co_return;
    }
    goro::chan<std::int64_t> rc;
    for (std::int64_t i = 0; i < div; ++i) goro::go(skynet(rc, num + i * size / div, size / div, div));
    std::int64_t sum = 0;
    for (std::int64_t i = 0; i < div; ++i) sum += *co_await rc.recv();
    co_await c.send(sum);
}

goro::task<double> once() {
    const auto start = std::chrono::steady_clock::now();
    goro::chan<std::int64_t> c;
    goro::go(skynet(c, 0, k_size, k_div));
    const std::int64_t sum = *co_await c.recv();
    const auto el = std::chrono::steady_clock::now() - start;
    if (sum != k_expected) {
        std::fprintf(stderr, "skynet_chan: wrong sum %lld, want %lld\n", static_cast<long long>(sum),
                     static_cast<long long>(k_expected));
        std::exit(1);
    }
    co_return std::chrono::duration<double, std::milli>(el).count();
}

goro::task<double> timed_median() { return bench::median_after_warmup(once, 5); }

}  // namespace

int main() {
    const double ms = goro::run(timed_median());
    std::printf("skynet_chan_1m %.2f ms\n", ms);
}
