// chan_throughput: 4 producers and 4 consumers share one buffered channel of
// capacity 1024; 10,000,000 ints in total. Twin of peers/go/chan_throughput.
// Producer p sends p*2,500,000 .. (p+1)*2,500,000-1; when all producers are
// done the channel is closed; consumers range over it and sum what they get.
//
// Prints: chan_throughput <millions of messages per second, median of 3 timed
// runs after 1 warm-up> Mmsg/s.  Processors: GORO_MAXPROCS.
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
constexpr int k_consumers = 4;
constexpr int k_capacity = 1024;
constexpr std::int64_t k_total = 10'000'000;
constexpr std::int64_t k_per = k_total / k_producers;
constexpr std::int64_t k_expected = k_total * (k_total - 1) / 2;

goro::task<> producer(goro::chan<std::int64_t> c, int p) {
    const std::int64_t base = p * k_per;
    for (std::int64_t i = 0; i < k_per; ++i) co_await c.send(base + i);
}

struct tally {
    std::int64_t sum = 0, count = 0;
};

goro::task<tally> consumer(goro::chan<std::int64_t> c) {
    tally t;
    while (auto v = co_await c.recv()) {
        t.sum += *v;
        ++t.count;
    }
    co_return t;
}

goro::task<double> once() {
    goro::chan<std::int64_t> c(k_capacity);
    const auto start = std::chrono::steady_clock::now();
    std::vector<goro::join_handle<void>> producers;
    for (int p = 0; p < k_producers; ++p) producers.push_back(goro::spawn(producer(c, p)));
    std::vector<goro::join_handle<tally>> consumers;
    for (int k = 0; k < k_consumers; ++k) consumers.push_back(goro::spawn(consumer(c)));
    for (auto& h : producers) co_await std::move(h);
    c.close();
    tally all;
    for (auto& h : consumers) {
        const tally t = co_await std::move(h);
        all.sum += t.sum;
        all.count += t.count;
    }
    const auto el = std::chrono::steady_clock::now() - start;
    if (all.sum != k_expected || all.count != k_total) {
        std::fprintf(stderr, "chan_throughput: got %lld msgs sum %lld, want %lld sum %lld\n",
                     static_cast<long long>(all.count), static_cast<long long>(all.sum),
                     static_cast<long long>(k_total), static_cast<long long>(k_expected));
        std::exit(1);
    }
    co_return static_cast<double>(k_total) / std::chrono::duration<double>(el).count() / 1e6;
}

goro::task<double> timed_median() { return bench::median_after_warmup(once, 3); }

}  // namespace

int main() {
    const double m = goro::run(timed_median());
    std::printf("chan_throughput %.2f Mmsg/s\n", m);
}
