// The epoll driver; the design is described in epoll_driver.hpp. This file
// holds its life (the epoll instance and the wake eventfd) and its loop:
// poll, park and wake, the events a wait returns, the owner's housekeeping
// and the shutdown drain. The rest is split by concern:
//   epoll_registration.cpp  registering files, migration, released records
//                           (the fd-reuse guarantee);
//   epoll_start.cpp         starting, restarting and cancelling operations
//                           (and the blocking pool, and yielding);
//   epoll_serve.cpp         completing: readiness edges (serve) and finish;
//   epoll_deadlines.cpp     the deadline heap and its expiry;
//   epoll_registration.hpp  the registration record; epoll_attempt.hpp one
//                           non-blocking attempt.
#include "epoll_driver.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>

#include "../../runtime/detail/fatal.hpp"
#include "../../runtime/detail/timer_heap.hpp"
#include "../../runtime/error.hpp"
#include "epoll_registration.hpp"
#include "io_op.hpp"

namespace goro::detail {
namespace {

constexpr std::uint64_t k_wake_token = 0;  // epoll data of the wake eventfd (registrations are non-null)

[[noreturn]] void epoll_failed(const char* what, int err) noexcept {
    const char* text = strerrordesc_np(err);
    const char* name = strerrorname_np(err);
    char message[256];
    std::snprintf(message, sizeof message, "fatal error: goro: %s: %s (%s)\n", what, text ? text : "unknown error",
                  name ? name : "unknown errno");
    fatal_exit(message);
}

}  // namespace

epoll_driver::epoll_driver() : m_next_deadline(k_no_deadline) {
    m_owner.bind();
    m_epfd = ::epoll_create1(EPOLL_CLOEXEC);
    if (m_epfd < 0) throw startup_error(std::string("goro: cannot start: epoll_create1 failed: ") + std::strerror(errno));
    m_wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (m_wake_fd < 0) {
        const int err = errno;
        ::close(m_epfd);
        throw startup_error(std::string("goro: cannot start: eventfd failed: ") + std::strerror(err));
    }
    epoll_event ev{};
    ev.events = EPOLLIN;  // level-triggered: stays ready until read
    ev.data.u64 = k_wake_token;
    if (::epoll_ctl(m_epfd, EPOLL_CTL_ADD, m_wake_fd, &ev) != 0) {
        const int err = errno;
        ::close(m_wake_fd);
        ::close(m_epfd);
        throw startup_error(std::string("goro: cannot start: epoll_ctl failed: ") + std::strerror(err));
    }
    try {
        m_heap.reserve(64);
    } catch (...) {
        ::close(m_wake_fd);
        ::close(m_epfd);
        throw;
    }
}

epoll_driver::~epoll_driver() {
    // Registrations still held by live files pass to those files; those
    // already released are freed here (see "Registrations").
    registration* r = m_registrations;
    while (r) {
        registration* next = r->next;
        bool free_it;
        {
            std::lock_guard guard(r->lock);
            free_it = r->released;
            r->home = nullptr;
        }
        if (free_it) delete r;
        r = next;
    }
    while (registration* f = m_free) {
        m_free = f->next_released;
        delete f;
    }
    ::close(m_wake_fd);
    ::close(m_epfd);
}

// ---- the loop (owner thread) ----

unsigned epoll_driver::process_events(int n) noexcept {
    unsigned completed = 0;
    for (int i = 0; i < n; ++i) {
        const epoll_event& e = m_events[i];
        if (e.data.u64 == k_wake_token) {
            std::uint64_t count;
            [[maybe_unused]] ssize_t r = ::read(m_wake_fd, &count, sizeof count);
            continue;
        }
        auto* reg = static_cast<registration*>(e.data.ptr);
        if (e.events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR | EPOLLPRI)) completed += serve(*reg, 0, e.events);
        if (e.events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) completed += serve(*reg, 1, e.events);
    }
    return completed;
}

unsigned epoll_driver::housekeeping() noexcept {
    GORO_ASSERT(m_owner.is_current());
    unsigned completed = m_deferred ? finish_deferred() : 0;
    // acquire: pairs with the release stores in cancel() and release().
    if (m_mail.exchange(false, std::memory_order_acquire)) {
        completed += drain_mailbox();
        free_released();
    }
    completed += expire_deadlines();
    return completed;
}

void epoll_driver::wait(std::int64_t timeout_ns) noexcept {
    const std::int64_t next = m_next_deadline.load(std::memory_order_relaxed);
    if (next != k_no_deadline) {
        const std::int64_t until = next - monotonic_now_ns();
        const std::int64_t io_timeout = until > 0 ? until : 0;
        if (timeout_ns < 0 || io_timeout < timeout_ns) timeout_ns = io_timeout;
    }
    int n;
    if (m_have_pwait2) {
        timespec ts{};
        ts.tv_sec = timeout_ns / 1'000'000'000;
        ts.tv_nsec = timeout_ns % 1'000'000'000;
        // The system call made directly: glibc's epoll_pwait2 is a
        // cancellation point, which costs two atomic operations around the
        // call, and goro never cancels a thread (as epoll_attempt.hpp's recvmsg).
        n = static_cast<int>(::syscall(SYS_epoll_pwait2, m_epfd, m_events, k_max_events,
                                       timeout_ns < 0 ? nullptr : &ts, nullptr, 0));
        if (n < 0 && errno == ENOSYS) {
            m_have_pwait2 = false;
            wait(timeout_ns);
            return;
        }
    } else {
        // Milliseconds, rounded up: never wake before the deadline.
        const int ms = timeout_ns < 0 ? -1 : static_cast<int>(std::min<std::int64_t>((timeout_ns + 999'999) / 1'000'000, INT_MAX));
        n = ::epoll_wait(m_epfd, m_events, k_max_events, ms);
    }
    if (n < 0) {
        if (errno == EINTR) return;  // a signal: the scheduler parks again with a fresh timeout
        epoll_failed("epoll_wait", errno);
    }
    m_pending_events = n;
}

unsigned epoll_driver::poll() noexcept {
    unsigned completed = housekeeping();
    wait(0);
    completed += process_events(std::exchange(m_pending_events, 0));
    return completed;
}

unsigned epoll_driver::park(std::int64_t timeout_ns) noexcept {
    unsigned completed = housekeeping();
    wait(completed > 0 ? 0 : timeout_ns);
    completed += process_events(std::exchange(m_pending_events, 0));
    completed += housekeeping();  // the wait may have ended at a deadline
    return completed;
}

void epoll_driver::wake() noexcept {
    const std::uint64_t one = 1;
    // Fails only with EAGAIN when the counter is saturated: a wake-up is
    // pending already, nothing is lost.
    [[maybe_unused]] ssize_t n = ::write(m_wake_fd, &one, sizeof one);
}

bool epoll_driver::events_waiting() noexcept {
    pollfd pfd{m_epfd, POLLIN, 0};
    return ::poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN);
}

bool epoll_driver::has_work() const noexcept {
    return m_in_flight.load(std::memory_order_relaxed) > 0 || m_mail.load(std::memory_order_relaxed);
}

void epoll_driver::cancel_all_and_drain() noexcept {
    GORO_ASSERT(m_owner.is_current());
    // Requests queued from now on fail at once (enqueue). release: published
    // to enqueuers through each registration's lock, taken below.
    {
        // Under m_lock: a migration away from this driver checks the flag
        // under it, so from here on the list holds still.
        std::lock_guard guard(m_lock);
        m_draining.store(true, std::memory_order_release);
    }
    housekeeping();
    for (registration* reg = m_registrations; reg; reg = reg->next) {
        for (int dir = 0; dir < 2; ++dir) {
            for (;;) {
                io_request* req;
                {
                    std::lock_guard guard(reg->lock);
                    req = reg->head[dir];
                }
                if (!req) break;
                finish(*req, -ECANCELED);
            }
        }
    }
    free_released();
}

}  // namespace goro::detail
