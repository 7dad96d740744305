// What the kernel says about a thread of this process (detail/thread_facts.hpp).
#include "detail/thread_facts.hpp"

#include <fmt/core.h>
#include <time.h>

#include <cstdio>
#include <string_view>

namespace goro::detail {

// CPU time of one thread of this process, from its per-thread CPU clock
// (glibc's MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED)); -1 if unknown.
std::int64_t thread_cpu_ns(int tid) noexcept {
    if (tid <= 0) return -1;
    const auto clock = static_cast<clockid_t>((~static_cast<unsigned>(tid) << 3) | 6u);
    timespec ts{};
    if (::clock_gettime(clock, &ts) != 0) return -1;
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// The state letter of a thread of this process (/proc/self/task/<tid>/stat:
// R, S, D, ...), or '?'.
char thread_state(int tid) {
    if (tid <= 0) return '?';
    std::FILE* f = std::fopen(fmt::format("/proc/self/task/{}/stat", tid).c_str(), "re");
    if (!f) return '?';
    char buf[512];
    const std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    const std::string_view stat(buf, n);
    const std::size_t paren = stat.rfind(')');  // the command name may hold anything
    if (paren == std::string_view::npos || paren + 2 >= stat.size()) return '?';
    return stat[paren + 2];
}

// What the kernel says the thread is doing (the state letter of
// /proc/self/task/<tid>/stat), in words.
std::string thread_activity(int tid) {
    if (tid <= 0) return "thread unknown";
    const char state = thread_state(tid);
    switch (state) {
        case '?': return "thread state unknown";
        case 'R': return "computing";
        case 'S': return "blocked in a system call";
        case 'D': return "blocked in the kernel (uninterruptible)";
        case 'T':
        case 't': return "thread stopped";
        default: return fmt::format("thread state {}", state);
    }
}

}  // namespace goro::detail
