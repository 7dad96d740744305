// Port of tzcnt/runtime-benchmarks' channel: 10,000,000 integers 0..N-1
// pass from P producers to P consumers over one channel, P = THREADS / 2
// (at least 1), as in the suite. Producer i sends its contiguous share
// (the remainder spread over the first ones); each consumer ranges over the
// channel and returns how many values it got and their sum. The bench task
// spawns the producers and the consumers, joins the producers in spawn
// order, closes the channel (the suite's peers drain and close it the same
// way), then joins the consumers and checks count and sum: a mismatch is
// reported and fails the program. Warm-up: one full run (its sum printed
// as `output:`), then one timed run.
//
// The channel is a goro::chan with a buffer of 1024, as goro's own
// chan_throughput and its Go twin: Go has no unbounded channel. The
// suite's peers use their own queues (TooManyCooks and libcoro unbounded,
// cobalt a bounded one), so a full buffer parks goro's producers where
// TooManyCooks' never wait.
//
// Usage: suite_channel [THREADS] [CONFIG]. CONFIG is the suite's executor
// choice for the runtimes that have two (`mt`, `st_asio`); goro has one
// multi-threaded scheduler, so only `mt` is accepted.
#include <goro/goro.hpp>

#include <cstdint>
#include <cstring>
#include <optional>
#include <vector>

#include "suite_util.hpp"

namespace {

constexpr std::size_t k_elements = 10'000'000;
constexpr std::size_t k_capacity = 1024;

struct tally {
    std::size_t count = 0;
    std::size_t sum = 0;
};

goro::task<void> producer(goro::chan<std::size_t> c, std::size_t count, std::size_t base) {
    for (std::size_t i = 0; i < count; ++i) co_await c.send(base + i);
}

goro::task<tally> consumer(goro::chan<std::size_t> c) {
    tally t;
    for (;;) {
        const std::optional<std::size_t> v = co_await c.recv();
        if (!v) break;  // closed and drained
        ++t.count;
        t.sum += *v;
    }
    co_return t;
}

/// One full run; the sum of everything received, or nullopt after a
/// reported mismatch.
goro::task<std::optional<std::size_t>> run_once(std::size_t producers, std::size_t consumers,
                                                std::size_t expected_sum) {
    goro::chan<std::size_t> c(k_capacity);
    const std::size_t per_task = k_elements / producers;
    const std::size_t rem = k_elements % producers;
    std::vector<goro::join_handle<void>> senders;
    senders.reserve(producers);
    std::size_t base = 0;
    for (std::size_t i = 0; i < producers; ++i) {
        const std::size_t count = i < rem ? per_task + 1 : per_task;
        senders.push_back(goro::spawn(producer(c, count, base)));
        base += count;
    }
    std::vector<goro::join_handle<tally>> receivers;
    receivers.reserve(consumers);
    for (std::size_t i = 0; i < consumers; ++i) receivers.push_back(goro::spawn(consumer(c)));
    for (auto& s : senders) co_await std::move(s);
    c.close();
    tally all;
    for (auto& r : receivers) {
        const tally t = co_await std::move(r);
        all.count += t.count;
        all.sum += t.sum;
    }
    bool ok = true;
    if (all.count != k_elements) {
        std::printf("FAIL: Expected %zu elements but consumed %zu elements\n", k_elements, all.count);
        ok = false;
    }
    if (all.sum != expected_sum) {
        std::printf("FAIL: Expected %zu sum but got %zu sum\n", expected_sum, all.sum);
        ok = false;
    }
    if (!ok) co_return std::nullopt;
    co_return all.sum;
}

goro::task<int> bench_main(std::size_t producers, std::size_t consumers) {
    std::size_t expected_sum = 0;
    for (std::size_t i = 0; i < k_elements; ++i) expected_sum += i;

    const std::optional<std::size_t> warm = co_await run_once(producers, consumers, expected_sum);  // warm-up
    if (!warm) co_return 1;
    std::printf("output: %zu\n", *warm);

    const auto start = std::chrono::steady_clock::now();
    const std::optional<std::size_t> timed = co_await run_once(producers, consumers, expected_sum);
    const auto end = std::chrono::steady_clock::now();
    if (!timed) co_return 1;
    const long long us = suite::micros(start, end);
    std::printf("runs:\n");
    std::printf("  - iteration_count: 1\n");
    std::printf("    elements: %zu\n", k_elements);
    std::printf("    elements/sec: %lld\n",
                static_cast<long long>(static_cast<double>(k_elements) * 1e6 / static_cast<double>(us > 0 ? us : 1)));
    suite::print_duration_rss(us);
    co_return 0;
}

}  // namespace

int main(int argc, char** argv) {
    const unsigned threads = suite::thread_count(argc, argv);
    if (argc > 2 && std::strcmp(argv[2], "mt") != 0) {
        std::fprintf(stderr, "suite_channel: goro has one (multi-threaded) executor: CONFIG must be mt, not %s\n",
                     argv[2]);
        return 2;
    }
    const std::size_t pairs = threads / 2 > 0 ? threads / 2 : 1;
    suite::print_threads(threads);
    std::printf("producers: %zu\n", pairs);
    std::printf("consumers: %zu\n", pairs);
    return goro::run(bench_main(pairs, pairs), {.procs = threads});
}
