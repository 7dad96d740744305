// GORO_DEBUG=schedtrace=N (Go's GODEBUG=schedtrace): a thread that prints
// one line a period with the scheduler's state (detail/schedtrace.hpp).
#include "detail/schedtrace.hpp"

#include <fmt/core.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "detail/scheduler_state.hpp"

namespace goro::detail {

unsigned schedtrace_interval_ms() {
    const char* env = std::getenv("GORO_DEBUG");
    if (!env) return 0;
    const char* key = std::strstr(env, "schedtrace=");
    if (!key) return 0;
    const long v = std::strtol(key + std::strlen("schedtrace="), nullptr, 10);
    return v > 0 ? static_cast<unsigned>(v) : 0;
}

schedtrace_monitor::schedtrace_monitor(runtime_state& rt, unsigned interval_ms) : m_rt(rt), m_interval(interval_ms) {
    if (m_interval == 0) return;
    m_start = std::chrono::steady_clock::now();
    m_thread = std::thread([this] { loop(); });
}

schedtrace_monitor::~schedtrace_monitor() {
    if (!m_thread.joinable()) return;
    {
        std::lock_guard guard(m_lock);
        m_stop = true;
    }
    m_cv.notify_all();
    m_thread.join();
}

void schedtrace_monitor::loop() {
    std::unique_lock guard(m_lock);
    while (!m_cv.wait_for(guard, std::chrono::milliseconds(m_interval), [this] { return m_stop; })) {
        std::string queues;
        std::int64_t live = m_rt.external_live.load(std::memory_order_relaxed);
        for (auto& p : m_rt.procs) {
            queues += fmt::format("{}{}", queues.empty() ? "" : " ", p->deque.size_hint());
            live += p->live_delta.load(std::memory_order_relaxed);
        }
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                              m_start).count();
        // threads: the machines (one per processor, plus the spares
        // made for hand-offs); lost: machines whose processor was
        // handed off while their task runs on; handoffs: so far.
        std::fputs(fmt::format("SCHED {}ms: procs={} threads={} lost={} handoffs={} idleprocs={} spinning={} "
                               "globrunq={} goroutines={} blocking={} netpoll={} runqueues=[{}]\n",
                               ms, m_rt.nprocs, m_rt.nprocs + m_rt.spare_threads.load(std::memory_order_relaxed),
                               m_rt.nlost.load(std::memory_order_relaxed),
                               m_rt.handoffs.load(std::memory_order_relaxed),
                               m_rt.npidle.load(std::memory_order_relaxed),
                               m_rt.nspinning.load(std::memory_order_relaxed),
                               m_rt.global_size.load(std::memory_order_relaxed), live,
                               m_rt.blocking_in_flight.load(std::memory_order_relaxed),
                               m_rt.netpoll_name, queues)
                       .c_str(),
                   stderr);
    }
}

}  // namespace goro::detail
