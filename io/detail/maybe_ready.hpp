// maybe_ready — the awaitable that goro::bufio's operations return (an
// answer at once, or the task that does the I/O), and awaited_t, the value
// co_await gives for an awaitable (the bufio Stream concepts are written
// with it). Internal to io/bufio_*.hpp.
#pragma once

#include <coroutine>
#include <optional>
#include <utility>

#include "../../runtime/task.hpp"

namespace goro::bufio::detail {

// The value co_await gives for an awaitable A: a member operator co_await
// (goro::task) or the awaiter's own await_resume (goro's I/O awaiters).
template <typename A>
auto awaited(A&& a) {
    if constexpr (requires { std::forward<A>(a).operator co_await(); })
        return std::forward<A>(a).operator co_await().await_resume();
    else
        return a.await_resume();
}
template <typename A>
using awaited_t = decltype(awaited(std::declval<A>()));

// What the buffered operations return: a value computed at once from the
// buffer (no coroutine frame, no suspension), or the task that does the
// rest with I/O. Most calls take the first path. Besides being cheap, it
// keeps the native stack flat where symmetric transfer is no tail call
// (sanitizer builds, -O0): there every awaited task nests a frame, and a loop
// of millions of buffered calls would overflow the stack.
template <typename T>
class [[nodiscard]] maybe_ready {
public:
    explicit maybe_ready(T value) : m_value(std::move(value)) {}
    explicit maybe_ready(task<T> slow) noexcept : m_slow(std::move(slow)) {}

    bool await_ready() const noexcept { return m_value.has_value(); }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<> h) {
        m_awaiter.emplace(std::move(m_slow).operator co_await());
        return m_awaiter->await_suspend(h);
    }
    T await_resume() {
        if (m_value) return std::move(*m_value);
        return m_awaiter->await_resume();
    }

private:
    using task_awaiter = decltype(std::declval<task<T>>().operator co_await());
    std::optional<T> m_value;  // set: ready, m_slow is empty
    task<T> m_slow;            // owns the frame m_awaiter resumes
    std::optional<task_awaiter> m_awaiter;
};


}  // namespace goro::bufio::detail
