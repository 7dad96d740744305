// many_tasks — 100,000 tasks on ONE logical processor (one OS thread).
//
// Each task sleeps a little and then adds its number to a total. A goroutine
// costs a coroutine frame (a couple of hundred bytes), not a thread or a
// stack, so a hundred thousand of them are cheap; while they sleep, none of
// them holds the thread. Pass a count to try more: many_tasks 1000000
//
// Run: build-release/samples/many_tasks [count]
#include <goro/goro.hpp>

#include <fmt/core.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>

using namespace std::chrono_literals;

namespace {

long rss_kb() {
    std::ifstream status("/proc/self/status");
    for (std::string key; status >> key;)
        if (key == "VmRSS:") {
            long kb = 0;
            status >> kb;
            return kb;
        }
    return 0;
}

goro::task<> worker(long id, std::atomic<long>& total) {
    co_await goro::sleep(std::chrono::milliseconds(10 + id % 90));  // parks the task, not the thread
    total.fetch_add(id, std::memory_order_relaxed);
}

goro::task<int> main_task(long count) {
    std::atomic<long> total{0};
    const auto start = std::chrono::steady_clock::now();
    goro::group tasks;
    for (long i = 0; i < count; ++i) tasks.go(worker(i, total));
    fmt::print("{} tasks started on {} logical processor; {} goroutines exist; RSS {} MB\n", count,
               goro::procs(), goro::num_goroutines(), rss_kb() / 1024);
    co_await tasks.wait();
    const auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    fmt::print("all {} finished in {:.0f} ms; total {} (expected {})\n", count, ms, total.load(),
               count * (count - 1) / 2);
    co_return total.load() == count * (count - 1) / 2 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    const long count = argc > 1 ? std::atol(argv[1]) : 100'000;
    return goro::run(main_task(count), {.procs = 1});
}
