// A watchdog for tests that would hang on a lost wake-up: if the guarded scope
// does not finish within the limit, the process aborts with a message naming
// the test, so a hang becomes a clear failure instead of a CI timeout.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>

#include <goro/runtime/detail/sanitizers.hpp>

namespace goro_test {

class watchdog {
public:
    watchdog(std::string what, std::chrono::seconds limit) : m_what(std::move(what)) {
        m_thread = std::thread([this, limit] {
            std::unique_lock guard(m_lock);
            if (!m_cv.wait_for(guard, limit, [this] { return m_done; })) {
                std::fprintf(stderr, "watchdog: '%s' did not finish within %lld s (lost wake-up or hang)\n",
                             m_what.c_str(), static_cast<long long>(limit.count()));
                std::fflush(stderr);
                std::abort();
            }
        });
    }
    ~watchdog() {
        {
            std::lock_guard guard(m_lock);
            m_done = true;
        }
        m_cv.notify_all();
        m_thread.join();
    }

private:
    std::string m_what;
    std::mutex m_lock;
    std::condition_variable m_cv;
    bool m_done = false;
    std::thread m_thread;
};

/// Sanitizer builds run stress loops this many times smaller.
inline constexpr int stress_divisor = GORO_TSAN || GORO_ASAN ? 10 : 1;

}  // namespace goro_test
