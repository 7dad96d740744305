// Helpers shared by the benchmark programs: timing, medians, and the output
// contract (one line per figure: "<name> <value> <unit>", read by compare.py).
#pragma once

#include <fmt/core.h>
#include <goro/goro.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace bench {

inline double median(std::vector<double> xs) {
    std::sort(xs.begin(), xs.end());
    const std::size_t n = xs.size();
    return n % 2 ? xs[n / 2] : (xs[n / 2 - 1] + xs[n / 2]) / 2;
}

inline double ms_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

inline void figure(const char* name, double value, const char* unit) {
    fmt::print("{} {:.2f} {}\n", name, value, unit);
    std::fflush(stdout);
}

[[noreturn]] inline void fail(const std::string& message) {
    fmt::print(stderr, "{}\n", message);
    std::exit(1);
}

/// Runs `once` (a function returning goro::task<double>) once as a warm-up,
/// then `runs` more times, and gives the median of the timed runs.
template <typename Once>
goro::task<double> median_after_warmup(Once once, int runs) {
    co_await once();  // warm-up
    std::vector<double> ts;
    for (int i = 0; i < runs; ++i) ts.push_back(co_await once());
    co_return median(std::move(ts));
}

/// Resident set size of this process in MB (VmRSS / 1024).
inline double rss_mb() {
    std::ifstream status("/proc/self/status");
    std::string key;
    while (status >> key) {
        if (key == "VmRSS:") {
            long kb = 0;
            status >> kb;
            return static_cast<double>(kb) / 1024.0;
        }
        status.ignore(1 << 16, '\n');
    }
    return -1;
}

}  // namespace bench
