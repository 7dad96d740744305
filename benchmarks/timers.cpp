// timers: 100,000 tasks each sleep a pseudo-random 1..10 ms (the same LCG
// list as the Go twin, peers/go/timers); time until all are done.
// Prints: timers_100k <median of 3 runs after 1 warm-up> ms
#include <goro/goro.hpp>

#include "bench_util.hpp"

namespace {

constexpr int k_tasks = 100'000;

std::vector<std::chrono::milliseconds> durations() {
    std::vector<std::chrono::milliseconds> ds(k_tasks);
    std::uint64_t x = 42;
    for (auto& d : ds) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        d = std::chrono::milliseconds(1 + (x >> 33) % 10);
    }
    return ds;
}

goro::task<> sleeper(std::chrono::milliseconds d, std::atomic<int>& done) {
    co_await goro::sleep(d);
    done.fetch_add(1, std::memory_order_relaxed);
}

goro::task<int> bench_main() {
    const auto ds = durations();
    std::vector<double> times;
    for (int run = 0; run < 4; ++run) {
        std::atomic<int> done{0};
        const auto start = std::chrono::steady_clock::now();
        goro::group g;
        for (int i = 0; i < k_tasks; ++i) g.go(sleeper(ds[i], done));
        co_await g.wait();
        const double ms = bench::ms_since(start);
        if (done.load() != k_tasks) bench::fail(fmt::format("timers: {} of {} finished", done.load(), k_tasks));
        if (ms < 10) bench::fail("timers: finished faster than the longest sleep");
        if (run > 0) times.push_back(ms);
    }
    bench::figure("timers_100k", bench::median(times), "ms");
    co_return 0;
}

}  // namespace

int main() { return goro::run(bench_main()); }
