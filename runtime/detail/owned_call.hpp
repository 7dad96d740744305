// owned_call — what goro::go(f, args...), goro::spawn(f, args...) and
// group::go(f, args...) start: one wrapper coroutine whose frame owns the
// callable and the arguments.
//
// Why a wrapper: a coroutine lambda's frame holds copies of its by-value
// parameters, but not its captures: its body reaches them through `this`,
// the closure object, which the caller owns. `go([=]() -> task<> {...}())`
// starts a frame pointing into a temporary closure that dies at the end of
// the statement. owned_call's parameters (the callable, decay-copied, and
// each argument, decay-copied) live in its own frame, which is destroyed
// only after the task the callable returned has finished: every capture and
// every argument outlives the body that uses them. The price is this second
// frame per task (about 10 ns per spawn-and-join, measured against
// spawn(task)); goro::go(task) stays one frame.
#pragma once

#include <concepts>
#include <functional>
#include <type_traits>
#include <utility>

#include "../error.hpp"
#include "../task.hpp"

namespace goro::detail {

template <typename T>
struct task_traits {
    static constexpr bool is_task = false;
    using value_type = std::remove_cvref_t<T>;  // a plain callable's result, by value
};
template <typename T>
struct task_traits<task<T>> {
    static constexpr bool is_task = true;
    using value_type = T;
};

/// What go/spawn accept as a callable: anything std::invoke can call with
/// rvalues of the decayed arguments (as std::thread does), except a task
/// itself (that is the one-frame go(task) overload).
template <typename F, typename... Args>
concept owned_callable = !task_traits<std::remove_cvref_t<F>>::is_task &&
                         std::is_constructible_v<std::decay_t<F>, F> &&
                         (std::is_constructible_v<std::decay_t<Args>, Args> && ...) &&
                         std::invocable<std::decay_t<F>, std::decay_t<Args>...>;

template <typename F, typename... Args>
using owned_result = std::invoke_result_t<std::decay_t<F>, std::decay_t<Args>...>;

/// The value type of the task that go/spawn start for `f(args...)`: T for a
/// callable returning task<T> (a coroutine lambda), else the callable's
/// result by value (a plain callable runs inside the wrapper, on a processor).
template <typename F, typename... Args>
using owned_value_t = typename task_traits<owned_result<F, Args...>>::value_type;

// Invariant: `f` and `args` are this frame's own; the task f returns is
// awaited (and so finishes) inside this frame, before they are destroyed.
// Called once, so the arguments are moved into the call (as std::thread does).
// A plain call, not std::invoke, for all but member pointers: under
// GORO_CORO_LIFETIME_CHECKS (task.hpp) std::invoke returning a task is a
// non-coroutine returning a coro_return_type, which clang rejects.
template <typename R, typename F, typename... Args>
task<R> owned_call(F f, Args... args) {
    if constexpr (std::is_member_pointer_v<F>) {
        co_return co_await std::invoke(f, std::move(args)...);
    } else if constexpr (task_traits<std::invoke_result_t<F, Args...>>::is_task) {
        co_return co_await std::move(f)(std::move(args)...);
    } else {
        co_return std::move(f)(std::move(args)...);
    }
}

/// The wrapper task for `f(args...)`, its frame holding decayed copies of
/// both. Throws runtime_error ("go of nil func value") for a null function
/// pointer, as Go does for a nil func.
template <typename F, typename... Args>
GORO_CORO_WRAPPER task<owned_value_t<F, Args...>> make_owned_call(F&& f, Args&&... args) {
    // A pointer may be null; a function (F a reference to one) may not.
    using P = std::remove_cvref_t<F>;
    if constexpr (std::is_pointer_v<P> || std::is_member_pointer_v<P>) {
        if (f == nullptr) throw runtime_error("go of nil func value");
    }
    return owned_call<owned_value_t<F, Args...>, std::decay_t<F>, std::decay_t<Args>...>(std::forward<F>(f),
                                                                           std::forward<Args>(args)...);
}

}  // namespace goro::detail
