// thread_facts — what the kernel says about a thread of this process, for
// the monitor (sysmon.cpp: is a processor's thread computing, or asleep in
// the kernel?) and its reports. By kernel thread id (gettid). Internal.
#pragma once

#include <cstdint>
#include <string>

namespace goro::detail {

/// CPU time of thread `tid` in ns, from its per-thread CPU clock; -1 if unknown.
std::int64_t thread_cpu_ns(int tid) noexcept;

/// Its state letter in /proc/self/task/<tid>/stat (R, S, D, ...), or '?'.
char thread_state(int tid);

/// The same in words ("computing", "blocked in a system call", ...).
std::string thread_activity(int tid);

}  // namespace goro::detail
