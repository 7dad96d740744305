// goro::once — sync.Once: run an action exactly once across concurrent callers.
//
//     goro::once init;
//     co_await init.call([] { load_config(); });           // a plain function
//     co_await init.call([]() -> goro::task<> { ... });    // or one returning a task
//
// Every call() returns only after the action has finished (its effects are
// visible); callers that arrive while it runs wait (parking the task). As in
// Go, if the action throws, that call rethrows, the once still counts as done,
// and later calls do nothing. A call() from inside the action on the same
// once deadlocks, as in Go (the deadlock detector reports it if nothing else
// runs). Non-copyable and non-movable.
//
// Design (Go's sync.Once): an atomic `done` flag for the fast path (acquire
// load; the release store is the last thing the action's caller does) and a
// goro::mutex that serializes the slow path.
#pragma once

#include <atomic>
#include <type_traits>
#include <utility>

#include "mutex.hpp"
#include "task.hpp"

namespace goro {

class once {
public:
    once() noexcept = default;
    once(const once&) = delete;
    once& operator=(const once&) = delete;
    once(once&&) = delete;
    once& operator=(once&&) = delete;

    /// co_await o.call(f): Do(f). f returns void, or something co_await-able (a task).
    template <typename F>
    [[nodiscard]] task<void> call(F f) {
        // acquire: pairs with the release store below; f's effects are visible.
        if (m_done.load(std::memory_order_acquire)) co_return;
        auto guard = co_await m_mutex.scoped_lock();
        if (m_done.load(std::memory_order_relaxed)) co_return;
        struct mark_done {
            std::atomic<bool>& done;
            // release: publishes f's effects to the fast path; runs even when
            // f throws (Go: "if f panics, Do considers it to have returned").
            ~mark_done() { done.store(true, std::memory_order_release); }
        } mark{m_done};
        if constexpr (std::is_void_v<std::invoke_result_t<F&>>)
            f();
        else
            co_await f();
    }

    /// True once an action has run (or thrown).
    bool done() const noexcept { return m_done.load(std::memory_order_acquire); }

private:
    std::atomic<bool> m_done{false};  // written once (release) under m_mutex
    mutex m_mutex;
};

}  // namespace goro
