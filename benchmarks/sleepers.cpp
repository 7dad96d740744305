// sleepers: 100,000 tasks each sleep until their own deadline, 20 + i % 30 ms
// after they start (the same spread as the Go twin, peers/go/sleepers); each
// records how late it woke (now - deadline). Reports the median and the 99th
// percentile of that lateness over all tasks. The tail includes the spawn
// storm: while main starts tasks without pause, a woken sleeper that
// overflows its processor's queue waits behind the starts already queued.
// Prints: sleepers_100k_late_p50 <ms>, sleepers_100k_late_p99 <ms>
//         (each the median of 3 runs after 1 warm-up)
#include <goro/goro.hpp>

#include "bench_util.hpp"

namespace {

constexpr int k_tasks = 100'000;

goro::task<> sleeper(int i, std::int64_t* late_ns) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(20 + i % 30);
    co_await goro::sleep_until(deadline);
    *late_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - deadline).count();
}

struct lateness {
    double p50_ms, p99_ms;
};

goro::task<lateness> once() {
    std::vector<std::int64_t> late_ns(k_tasks, -1);
    goro::group g;
    for (int i = 0; i < k_tasks; ++i) g.go(sleeper(i, &late_ns[static_cast<std::size_t>(i)]));
    co_await g.wait();
    std::sort(late_ns.begin(), late_ns.end());
    if (late_ns.front() < 0) bench::fail("sleepers: a sleeper woke before its deadline, or never");
    co_return lateness{static_cast<double>(late_ns[k_tasks / 2]) / 1e6,
                       static_cast<double>(late_ns[k_tasks * 99 / 100]) / 1e6};
}

goro::task<int> bench_main() {
    co_await once();  // warm-up
    std::vector<double> p50, p99;
    for (int run = 0; run < 3; ++run) {
        const lateness l = co_await once();
        p50.push_back(l.p50_ms);
        p99.push_back(l.p99_ms);
    }
    bench::figure("sleepers_100k_late_p50", bench::median(p50), "ms");
    bench::figure("sleepers_100k_late_p99", bench::median(p99), "ms");
    co_return 0;
}

}  // namespace

int main() { return goro::run(bench_main()); }
