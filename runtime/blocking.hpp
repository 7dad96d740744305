// goro::blocking — hand a blocking call to the blocking pool.
//
//     auto n = co_await goro::blocking([&] { return ::read(fd, buf, len); });
//
// `fn` runs on a pool thread, created on demand and retired after
// options::blocking_idle_timeout idle. Pool threads and workers together never
// exceed options::max_threads; at the cap, further calls wait (in FIFO order)
// for a free thread, parked like any other waiting task. The result is
// returned, or `fn`'s exception rethrown, in the awaiting task.
#pragma once

#include <coroutine>
#include <exception>
#include <functional>
#include <type_traits>
#include <utility>
#include <variant>

#include "detail/goroutine.hpp"
#include "error.hpp"

namespace goro {

namespace detail {

struct blocking_job {
    void (*run)(blocking_job* self) noexcept = nullptr;  // runs on a pool thread
    goroutine* waiter = nullptr;                          // readied when run returns
    blocking_job* next = nullptr;                         // pool queue link, guarded by the pool lock
};

/// Queues a job on the runtime's blocking pool. Throws no_runtime outside a runtime.
void submit_blocking(blocking_job* job);

template <typename F>
struct blocking_awaiter : blocking_job {
    using result_type = std::invoke_result_t<F&>;
    using stored_type = std::conditional_t<std::is_void_v<result_type>, std::monostate, result_type>;

    F fn;
    std::variant<std::monostate, stored_type, std::exception_ptr> outcome;

    explicit blocking_awaiter(F f) : fn(std::move(f)) {}

    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> me) {
        waiter = current_goroutine();
        if (!waiter) throw no_runtime("goro::blocking");
        waiter->resume_point = me;
        note_waiting(waiter, "blocking call");
        run = [](blocking_job* self) noexcept {
            auto* a = static_cast<blocking_awaiter*>(self);
            try {
                if constexpr (std::is_void_v<result_type>) {
                    std::invoke(a->fn);
                    a->outcome.template emplace<1>();
                } else {
                    a->outcome.template emplace<1>(std::invoke(a->fn));
                }
            } catch (...) {
                a->outcome.template emplace<2>(std::current_exception());
            }
        };
        submit_blocking(this);
    }
    result_type await_resume() {
        if (outcome.index() == 2) std::rethrow_exception(std::get<2>(outcome));
        if constexpr (!std::is_void_v<result_type>) return std::move(std::get<1>(outcome));
    }
};

}  // namespace detail

template <typename F>
[[nodiscard]] detail::blocking_awaiter<std::decay_t<F>> blocking(F&& fn) {
    return detail::blocking_awaiter<std::decay_t<F>>{std::forward<F>(fn)};
}

}  // namespace goro
