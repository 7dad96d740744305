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
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
inline constexpr int stress_divisor = 10;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
inline constexpr int stress_divisor = 10;
#else
inline constexpr int stress_divisor = 1;
#endif
#else
inline constexpr int stress_divisor = 1;
#endif

}  // namespace goro_test
