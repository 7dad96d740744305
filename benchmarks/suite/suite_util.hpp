// Shared by the ports of tzcnt/runtime-benchmarks (benchmarks/suite/): the
// thread count from argv[1] and the suite's own output format, so that its
// scripts (and compare.py --suite) read goro's runs like every other
// runtime's: `duration: N us` and `max_rss: N KiB` (peak resident set,
// getrusage).
#pragma once

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

namespace suite {

/// Threads from argv[1]; the suite's default is half the hardware threads.
inline unsigned thread_count(int argc, char** argv) {
    if (argc > 1) {
        const int n = std::atoi(argv[1]);
        if (n < 1) {
            std::fprintf(stderr, "usage: %s THREADS (a positive integer)\n", argv[0]);
            std::exit(2);
        }
        return static_cast<unsigned>(n);
    }
    const unsigned hw = std::thread::hardware_concurrency() / 2;
    return hw > 0 ? hw : 1;
}

/// Peak resident set in KiB (Linux reports ru_maxrss in KiB).
inline long peak_memory_usage() {
    rusage usage{};
    if (getrusage(RUSAGE_SELF, &usage) == 0) return usage.ru_maxrss;
    return -1;
}

inline void print_threads(unsigned threads) { std::printf("threads: %u\n", threads); }

/// Microseconds from start to end, as the suite reports them.
inline long long micros(std::chrono::steady_clock::time_point start, std::chrono::steady_clock::time_point end) {
    return static_cast<long long>(std::chrono::duration_cast<std::chrono::microseconds>(end - start).count());
}

/// The last lines of every run record: its duration and the peak RSS.
inline void print_duration_rss(long long us) {
    std::printf("    duration: %lld us\n", us);
    std::printf("    max_rss: %ld KiB\n", peak_memory_usage());
}

/// The suite's report of one timed loop.
inline void print_run(std::size_t iterations, std::chrono::steady_clock::time_point start) {
    const long long us = micros(start, std::chrono::steady_clock::now());
    std::printf("runs:\n");
    std::printf("  - iteration_count: %zu\n", iterations);
    print_duration_rss(us);
}

}  // namespace suite
