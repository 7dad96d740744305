// fib(30), fork-join: every call with n >= 2 spawns fib(n-1) as a goroutine,
// computes fib(n-2) itself, then joins. No cutoff. Twin: peers/go/fib.
// Prints: fib_30 <median of 3 runs after 1 warm-up> ms
#include <goro/goro.hpp>

#include "bench_util.hpp"

namespace {

goro::task<std::int64_t> fib(int n) {
    if (n < 2) co_return n;
    auto left = goro::spawn(fib(n - 1));
    const std::int64_t right = co_await fib(n - 2);
    co_return co_await std::move(left) + right;
}

goro::task<int> bench_main() {
    std::vector<double> times;
    for (int run = 0; run < 4; ++run) {
        const auto start = std::chrono::steady_clock::now();
        const std::int64_t v = co_await fib(30);
        const double ms = bench::ms_since(start);
        if (v != 832040) bench::fail(fmt::format("fib: wrong result {}", v));
        if (run > 0) times.push_back(ms);
    }
    bench::figure("fib_30", bench::median(times), "ms");
    co_return 0;
}

}  // namespace

int main() { return goro::run(bench_main()); }
