// mutex: 8 tasks do 1,000,000 lock/unlock pairs in total (125,000 each) on
// one goro::mutex protecting a shared counter increment; the counter must end
// at 1,000,000. Twin of peers/go/mutex/main.go.
// Measures the uncontended fast path (one CAS to lock, one fetch_sub to
// unlock) and, with several processors, the contended path: a short spin,
// then parking with Go's normal/starvation modes.
//
// Prints: mutex <ns per lock/unlock pair (wall time / 1,000,000), median of 3
// timed runs after 1 warm-up> ns/op
// Processors: GORO_MAXPROCS (default: usable CPUs).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <goro/goro.hpp>

#include "bench_util.hpp"

namespace {

constexpr int k_workers = 8;
constexpr int k_total = 1'000'000;
constexpr int k_per = k_total / k_workers;

goro::task<> worker(goro::mutex& mu, long& counter, goro::wait_group& wg) {
    for (int i = 0; i < k_per; ++i) {
        co_await mu.lock();
        ++counter;
        mu.unlock();
    }
    wg.done();
}

goro::task<double> once() {
    goro::mutex mu;
    long counter = 0;
    goro::wait_group wg;
    const auto start = std::chrono::steady_clock::now();
    wg.add(k_workers);
    for (int w = 0; w < k_workers; ++w) goro::go(worker(mu, counter, wg));
    co_await wg.wait();
    const auto el = std::chrono::steady_clock::now() - start;
    if (counter != k_total) {
        std::fprintf(stderr, "mutex: counter %ld, want %d\n", counter, k_total);
        std::exit(1);
    }
    co_return std::chrono::duration<double, std::nano>(el).count() / k_total;
}

goro::task<double> timed_median() { return bench::median_after_warmup(once, 3); }

}  // namespace

int main() {
    const double ns = goro::run(timed_median());
    std::printf("mutex %.2f ns/op\n", ns);
}
