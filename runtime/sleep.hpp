// goro::sleep / goro::sleep_until — time.Sleep: park the task, not the thread.
//
//     co_await goro::sleep(10ms);
//     co_await goro::sleep_until(std::chrono::steady_clock::now() + 1s);
//
// The timer goes into the heap of the processor the task runs on; that
// processor wakes it when the deadline passes (checking on every scheduling
// tick, or waking from park at the earliest deadline), or, once that
// processor has left it due for a while (busy in a goroutine, say),
// another one on its way to park (the timer is stealable:
// detail/timer_heap.hpp). A duration <= 0
// still yields once, as Go's time.Sleep(0) reschedules.
#pragma once

#include <chrono>
#include <coroutine>
#include <cstdint>

#include "detail/goroutine.hpp"
#include "detail/deadline_ns.hpp"
#include "detail/timer_heap.hpp"
#include "error.hpp"

namespace goro {

namespace detail {

/// Queues `node` on the current processor's timer heap. Throws no_runtime outside a processor.
void add_timer(timer_node* node, const char* api_name);

struct sleep_awaiter : timer_node {
    goroutine* sleeper = nullptr;

    explicit sleep_awaiter(std::int64_t deadline_ns) noexcept {
        when = deadline_ns;
        // Any processor may fire it: add_timer is await_suspend's last
        // touch of the frame, and the heap's lock orders the fields
        // written before it (sleeper, fire) before a fire on another thread.
        stealable = true;
    }
    sleep_awaiter(const sleep_awaiter&) = delete;
    sleep_awaiter& operator=(const sleep_awaiter&) = delete;
    // A sleeping task destroyed at shutdown takes its timer out of the heap.
    ~sleep_awaiter() { timer_heap::remove(this); }

    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> me) {
        sleeper = current_goroutine();
        if (!sleeper) throw no_runtime("goro::sleep");
        sleeper->resume_point = me;
        note_waiting(sleeper, "sleep");
        fire = [](timer_node* self) noexcept { ready_local(static_cast<sleep_awaiter*>(self)->sleeper); };
        add_timer(this, "goro::sleep");
    }
    void await_resume() const noexcept {}
};

}  // namespace detail

/// Any clock's time point; time_point::max() sleeps "forever" (saturates).
template <typename Clock, typename Duration>
[[nodiscard]] detail::sleep_awaiter sleep_until(std::chrono::time_point<Clock, Duration> deadline) {
    return detail::sleep_awaiter{detail::deadline_at(deadline)};
}

/// d <= 0 only yields to the timer check; huge durations saturate.
template <typename Rep, typename Period>
[[nodiscard]] detail::sleep_awaiter sleep(std::chrono::duration<Rep, Period> d) {
    return detail::sleep_awaiter{detail::deadline_after(d)};
}

}  // namespace goro
