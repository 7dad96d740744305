// idle_tasks: start 1,000,000 tasks that all block on a receive from one
// shared channel; once all have started (a counter bumped just before the
// receive) and a 20 ms settle pause has passed, report the whole process's
// VmRSS in MB. Then close the channel and wait until all of them have woken.
// Twin: peers/go/idle_tasks. Prints: idle_1m_rss <MB> MB
#include <goro/goro.hpp>

#include "bench_util.hpp"

using namespace std::chrono_literals;

namespace {

constexpr long k_tasks = 1'000'000;

std::atomic<long> g_started{0};
std::atomic<long> g_woke{0};

goro::task<> idler(goro::chan<int> gate) {
    g_started.fetch_add(1, std::memory_order_relaxed);
    co_await gate.recv();  // parks until the channel is closed
    g_woke.fetch_add(1, std::memory_order_relaxed);
}

goro::task<int> bench_main() {
    goro::chan<int> gate;
    for (long i = 0; i < k_tasks; ++i) goro::go(idler(gate));
    while (g_started.load() < k_tasks) co_await goro::sleep(1ms);
    co_await goro::sleep(20ms);  // let the last ones reach the receive and park
    if (goro::num_goroutines() < static_cast<std::size_t>(k_tasks))
        bench::fail(fmt::format("idle_tasks: only {} goroutines alive", goro::num_goroutines()));
    const double mb = bench::rss_mb();
    gate.close();
    while (g_woke.load() < k_tasks) co_await goro::sleep(1ms);
    bench::figure("idle_1m_rss", mb, "MB");
    co_return 0;
}

}  // namespace

int main() { return goro::run(bench_main()); }
