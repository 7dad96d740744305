// spawn_join: spawn 1,000,000 tasks (each returns its index), then join them
// all through their handles. Twin: peers/go/spawn_join.
// Prints: spawn_join <ns per task, median of 5 runs after 1 warm-up> ns/op
#include <goro/goro.hpp>

#include "bench_util.hpp"

namespace {

constexpr std::int64_t k_tasks = 1'000'000;

goro::task<std::int64_t> identity(std::int64_t i) { co_return i; }

goro::task<int> bench_main() {
    std::vector<double> times;
    std::vector<goro::join_handle<std::int64_t>> handles;
    handles.reserve(k_tasks);
    for (int run = 0; run < 6; ++run) {
        handles.clear();
        const auto start = std::chrono::steady_clock::now();
        for (std::int64_t i = 0; i < k_tasks; ++i) handles.push_back(goro::spawn(identity(i)));
        for (std::int64_t i = 0; i < k_tasks; ++i) {
            const std::int64_t v = co_await std::move(handles[i]);
            if (v != i) bench::fail(fmt::format("spawn_join: task {} returned {}", i, v));
        }
        const double ms = bench::ms_since(start);
        if (run > 0) times.push_back(ms * 1e6 / k_tasks);
    }
    bench::figure("spawn_join", bench::median(times), "ns/op");
    co_return 0;
}

}  // namespace

int main() { return goro::run(bench_main()); }
