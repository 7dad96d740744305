// goro::go and goro::spawn — start tasks as goroutines.
//
//     goro::go([&wg, ch]() -> goro::task<> { ... });   // Go's `go func() { ... }()`
//     goro::go([](int i) -> goro::task<> { ... }, i);  // Go's `go func(i int) { ... }(i)`
//     goro::go(worker(id));                  // detached, like Go's `go worker(id)`
//     auto h = goro::spawn(compute(x));      // joinable
//     int v = co_await std::move(h);         // the value, or the task's exception
//
// The callable forms take the callable itself, not a task it returned: the
// callable (with its captures) and the arguments are copied or moved into
// the goroutine's frame and live until it ends (detail/owned_call.hpp). A
// coroutine lambda called on the spot, `go([=]() -> task<> {...}())`, is
// the pitfall they replace: its captures live in the temporary closure, which
// dies at the end of the statement, before the task runs. The callable may
// also be a plain function (returning void or a value): it then runs on a
// processor like any task, and must not block the thread (see blocking.hpp).
//
// Where a goroutine was started (panic report, goroutine dump) is the call's
// own line for go(task), go(f), spawn(task) and spawn(f). With arguments,
// go(f, args...) cannot take a defaulted std::source_location after its
// parameter pack: it reports this header's line, in a function whose name
// spells the callable's type; capture the arguments (`go([=] ...)`) to get
// the line.
//
// A detached task whose exception escapes is a panic (see options::panic_handler).
// Dropping a join_handle detaches the task: it keeps running, its value is
// discarded, and an exception escaping it after that is a panic, as for
// goro::go. A task that had already finished when its handle was dropped
// delivered its outcome to the handle: dropping discards it, exception or not.
#pragma once

#include <atomic>
#include <coroutine>
#include <source_location>
#include <utility>

#include "detail/owned_call.hpp"
#include "error.hpp"
#include "task.hpp"

namespace goro {

namespace detail {

/// The stores that make a task's frame a goroutine of `kind`, not started
/// yet (go, spawn, and join_all's and spawn_all's starts; start_goroutine's
/// queue push publishes them). Always inlined, as go(task) and spawn(task).
template <typename T>
[[gnu::always_inline]] inline void prepare_goroutine(std::coroutine_handle<task_promise<T>> h, goroutine_kind kind,
                                                     const std::source_location& site) noexcept {
    prepare_root(h.promise(), h, kind, site);
}

}  // namespace detail

/// Starts `t` as a detached goroutine. Throws goro::no_runtime outside goro::run
/// and goro::runtime_error ("go of nil func value") for an empty task.
///
/// go(task) and spawn(task) are always inlined (a few stores and the call
/// to start_goroutine): as calls, g++ 12 kept them out of line in fork-join
/// code, and the call, its register saves and the moved-from task's
/// destructor cost skynet 19 instructions a task (issue 14).
template <typename T>
[[gnu::always_inline]] inline void go(task<T> t, std::source_location site = std::source_location::current()) {
    auto handle = t.release();
    if (!handle) throw runtime_error("go of nil func value");
    detail::prepare_goroutine(handle, detail::goroutine_kind::detached, site);
    try {
        detail::start_goroutine(&handle.promise(), "goro::go");
    } catch (...) {
        handle.destroy();
        throw;
    }
}

/// Starts `f()` as a detached goroutine whose frame owns `f` (moved or
/// copied in, captures and all). f may return a goro::task (a coroutine
/// lambda) or anything else (it then runs inside the goroutine).
template <typename F>
    requires detail::owned_callable<F>
void go(F&& f, std::source_location site = std::source_location::current()) {
    go(detail::make_owned_call(std::forward<F>(f)), site);
}

/// Starts `f(args...)` as a detached goroutine; its frame owns `f` and
/// decayed copies of the arguments, passed to f as rvalues (as std::thread
/// does: use std::ref for a reference). See the header comment for its site.
template <typename F, typename Arg, typename... Args>
    requires detail::owned_callable<F, Arg, Args...>
void go(F&& f, Arg&& arg, Args&&... args) {
    go(detail::make_owned_call(std::forward<F>(f), std::forward<Arg>(arg), std::forward<Args>(args)...));
}

namespace detail {
struct join_all_access;

/// The suspension of the task at `me` that joins `child` (started, not
/// finished; its frame `child_frame`): join_handle's awaiter, and
/// join_all's join of one child. Returns what runs next.
/// - Fork-join fast path: the child never ran and is now ours alone (off
///   every queue), so it runs right here as a nested task that comes back
///   to us directly (`in_place`), with no atomic hand-off and no trip
///   through the scheduler (a Cilk-style "work-first" join). We do not
///   park: a dump shows us as [join] through the record's in-place chain.
/// - Otherwise we park on its join word: park_joiner's CAS (release)
///   publishes our resume point and wait reason, stored first, to the task
///   that finishes and readies us; when it fails the task finished
///   meanwhile, and (acquire) we see its result and continue at once.
/// Throws goro::no_runtime (naming `what`) outside a goroutine.
[[gnu::always_inline]] inline std::coroutine_handle<> suspend_for_join(goroutine& child,
                                                                        std::coroutine_handle<> child_frame,
                                                                        std::coroutine_handle<> me, bool& in_place,
                                                                        const char* what) {
    in_place = run_in_place(&child, me);
    if (in_place) return child_frame;
    goroutine* self = current_goroutine();
    if (!self) throw no_runtime(what);
    self->resume_point = me;
    note_waiting(self, "join");
    if (child.join_state.park_joiner(self)) return std::noop_coroutine();
    return me;  // finished meanwhile: continue at once
}

/// The result of the finished task `h` (or its exception); its frame is
/// freed either way.
template <typename T>
[[gnu::always_inline]] inline T take_result_and_free(std::coroutine_handle<task_promise<T>> h) {
    struct destroy_guard {
        std::coroutine_handle<task_promise<T>> h;
        ~destroy_guard() { release_finished(h); }
    } guard{h};
    return guard.h.promise().take_result();
}

}  // namespace detail

/// The handle of a goroutine started by goro::spawn. Move-only; co_await it
/// (as an rvalue) for the result. Destroying it unawaited detaches the task.
template <typename T>
class [[nodiscard]] join_handle {
public:
    using handle_type = std::coroutine_handle<detail::task_promise<T>>;

    join_handle() noexcept = default;
    explicit join_handle(handle_type h) noexcept : m_handle(h) {}
    join_handle(join_handle&& other) noexcept : m_handle(std::exchange(other.m_handle, {})) {}
    join_handle& operator=(join_handle&& other) noexcept {
        if (this != &other) {
            detach();
            m_handle = std::exchange(other.m_handle, {});
        }
        return *this;
    }
    join_handle(const join_handle&) = delete;
    join_handle& operator=(const join_handle&) = delete;
    ~join_handle() { detach(); }

    explicit operator bool() const noexcept { return static_cast<bool>(m_handle); }

    /// True once the task has finished (its result is ready).
    bool done() const noexcept {
        return m_handle && m_handle.promise().join_state.done();
    }

    /// Lets the task run on unjoined: its value is discarded, and an exception
    /// it throws from now on is a panic (as for goro::go).
    void detach() noexcept {
        if (!m_handle) return;
        auto h = std::exchange(m_handle, {});
        if (h.promise().join_state.detach()) h.destroy();
        // Otherwise the task frees itself when it finishes (see final_awaiter).
    }

    auto operator co_await() && noexcept {
        struct awaiter {
            handle_type h;
            // Set when the child runs in place (run_in_place): its frame
            // is then ours alone, join_state unused.
            bool in_place = false;
            awaiter(handle_type handle) noexcept : h(handle) {}
            awaiter(const awaiter&) = delete;
            awaiter& operator=(const awaiter&) = delete;
            // Destroyed while suspended (the waiting task was destroyed at
            // shutdown): let go of the awaited task as a dropped handle would;
            // a child run in place is ours alone (no queue or registry holds
            // it: it is suspended inside our own run), so it goes with us.
            ~awaiter() {
                if (!h) return;
                if (in_place || h.promise().join_state.detach()) h.destroy();
            }
            bool await_ready() const noexcept {
                return !h || h.promise().join_state.done();
            }
            GORO_INLINE_WHEN_OPTIMIZED std::coroutine_handle<> await_suspend(std::coroutine_handle<> me) {
                return detail::suspend_for_join(h.promise(), h, me, in_place, "co_await on a goro::join_handle");
            }
            GORO_INLINE_WHEN_OPTIMIZED T await_resume() {
                if (!h) throw runtime_error("goro::join_handle: awaited an empty handle");
                return detail::take_result_and_free(std::exchange(h, {}));
            }
        };
        return awaiter{std::exchange(m_handle, {})};
    }

private:
    friend struct detail::join_all_access;  // join_all.hpp takes the handles over
    handle_type m_handle;
};

/// Starts `t` as a goroutine and returns a handle to await its result.
template <typename T>
[[gnu::always_inline]] inline join_handle<T> spawn(task<T> t,
                                                   std::source_location site = std::source_location::current()) {
    auto handle = t.release();
    if (!handle) throw runtime_error("go of nil func value");
    detail::prepare_goroutine(handle, detail::goroutine_kind::joinable, site);
    try {
        detail::start_goroutine(&handle.promise(), "goro::spawn");
    } catch (...) {
        handle.destroy();
        throw;
    }
    return join_handle<T>{handle};
}

/// Starts `f()` as a goroutine whose frame owns `f`; the handle gives what
/// f's task returns (or f's value, for a plain callable), or its exception.
template <typename F>
    requires detail::owned_callable<F>
join_handle<detail::owned_value_t<F>> spawn(F&& f, std::source_location site = std::source_location::current()) {
    return spawn(detail::make_owned_call(std::forward<F>(f)), site);
}

/// Starts `f(args...)` as a joinable goroutine; its frame owns `f` and
/// decayed copies of the arguments (see go(f, args...)).
template <typename F, typename Arg, typename... Args>
    requires detail::owned_callable<F, Arg, Args...>
join_handle<detail::owned_value_t<F, Arg, Args...>> spawn(F&& f, Arg&& arg, Args&&... args) {
    return spawn(detail::make_owned_call(std::forward<F>(f), std::forward<Arg>(arg), std::forward<Args>(args)...));
}

}  // namespace goro
