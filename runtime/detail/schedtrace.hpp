// schedtrace — GORO_DEBUG=schedtrace=N, Go's GODEBUG=schedtrace: every N ms
// one line on stderr with the state of the scheduler (processors, threads,
// hand-offs, idle and spinning processors, the global and local run queues,
// goroutines, blocking calls, the netpoller). Racy reads: diagnostic only.
// (runtime/schedtrace.cpp.) Internal.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace goro::detail {

struct runtime_state;

/// The period GORO_DEBUG asks for, in ms (0: none).
unsigned schedtrace_interval_ms();

/// While it lives (run()'s processor 0 runs), prints every interval_ms; 0
/// starts nothing.
class schedtrace_monitor {
public:
    schedtrace_monitor(runtime_state& rt, unsigned interval_ms);
    ~schedtrace_monitor();
    schedtrace_monitor(const schedtrace_monitor&) = delete;
    schedtrace_monitor& operator=(const schedtrace_monitor&) = delete;

private:
    void loop();

    runtime_state& m_rt;
    unsigned m_interval;
    std::chrono::steady_clock::time_point m_start;
    std::mutex m_lock;
    std::condition_variable m_cv;
    bool m_stop = false;
    std::thread m_thread;
};

}  // namespace goro::detail
