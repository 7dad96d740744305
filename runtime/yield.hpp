// goro::yield — runtime.Gosched: let other tasks run, then continue.
//
//     co_await goro::yield();
//
// The task goes behind every task already runnable on its processor (and the
// global queue), so two tasks that yield in turn on one processor interleave.
// Stackless tasks cannot be pre-empted: a loop that never suspends keeps its
// processor until it does; long CPU loops should yield now and then.
#pragma once

#include <coroutine>

#include "detail/goroutine.hpp"
#include "error.hpp"

namespace goro {

namespace detail {
struct yield_awaiter {
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> me) {
        goroutine* self = current_goroutine();
        if (!self) throw no_runtime("goro::yield");
        self->resume_point = me;
        ready_later(self);
    }
    void await_resume() const noexcept {}
};
}  // namespace detail

[[nodiscard]] inline detail::yield_awaiter yield() noexcept { return {}; }

}  // namespace goro
