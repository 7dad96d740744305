// Port of tzcnt/runtime-benchmarks' fib: the naive recursive Fibonacci, a
// task per call. Each call spawns fib(n - 1) as a goroutine, computes
// fib(n - 2) itself (an awaited nested task, as the suite's peers `call` the
// second branch) and joins the first. suite_fib_bulk, built from this file
// with SUITE_JOIN_ALL, starts both branches as goroutines and joins them
// with one goro::join_all over a std::array of two tasks instead (the
// form of TooManyCooks' spawn_tuple, which the suite's TooManyCooks port
// mentions and leaves out). suite_fib_fj, with SUITE_FJ, runs both with
// goro::fj::all (children made goroutines only when a processor wants
// work). Warm-up fib(30), then one timed fib(N).
// Usage: suite_fib[_bulk|_fj] N [THREADS]
#include <goro/goro.hpp>

#include <array>

#include "suite_util.hpp"

namespace {

goro::task<std::size_t> fib(std::size_t n) {
    if (n < 2) co_return n;
#if defined(SUITE_FJ)
    auto [a, b] = co_await goro::fj::all(fib(n - 1), fib(n - 2));
    co_return a + b;
#elif defined(SUITE_JOIN_ALL)
    std::array<goro::task<std::size_t>, 2> tasks{fib(n - 1), fib(n - 2)};
    const std::array<std::size_t, 2> values = co_await goro::join_all(std::move(tasks));
    co_return values[0] + values[1];
#else
    auto x = goro::spawn(fib(n - 1));
    const std::size_t y = co_await fib(n - 2);
    co_return co_await std::move(x) + y;
#endif
}

goro::task<int> bench_main(std::size_t n) {
    (void)co_await fib(30);  // warm-up
    const auto start = std::chrono::steady_clock::now();
    const std::size_t result = co_await fib(n);
    std::printf("output: %zu\n", result);
    suite::print_run(1, start);
    co_return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::printf("Usage: fib <n-th fibonacci number requested>\n");
        return 0;
    }
    const int n = std::atoi(argv[1]);
    if (n < 0 || n > 90) {
        std::fprintf(stderr, "suite_fib: N must be in 0..90\n");
        return 2;
    }
    // The thread count is the second argument here, as in the suite.
    const unsigned threads = argc > 2 ? suite::thread_count(2, argv + 1) : suite::thread_count(1, argv);
    suite::print_threads(threads);
    return goro::run(bench_main(static_cast<std::size_t>(n)), {.procs = threads});
}
