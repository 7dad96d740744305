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
// runs). Non-copyable and non-movable. Destroying a once while calls wait on
// it is safe: they stay parked for good (see runtime/detail/wait_list.hpp).
//
// Design (Go's sync.Once): an atomic `done` flag for the fast path (acquire
// load; the release store is the last thing the action's caller does) and a
// goro::mutex that serializes the slow path.
//
// ---- once_func / once_value / once_values (Go 1.21's sync.OnceFunc,
// OnceValue, OnceValues) ----
//
//     auto init = goro::once_func([] { load_config(); });   // f: void, or task<void>
//     co_await init();                                       // f runs on the first call only
//
//     auto cfg = goro::once_value([]() -> goro::task<config> { co_return co_await fetch(); });
//     config c = co_await cfg();                             // every call: a copy of the same value
//
//     auto both = goro::once_values([] { return std::pair{open_db(), 42}; });
//     auto [db, n] = co_await both();                        // f returns a std::pair / std::tuple
//
// Each returns a goro::once_fn<T> (T = void for once_func): a cheap copyable
// handle, like the func value Go returns; copies share the one call. `co_await
// g()` runs f if nobody has yet, else waits for the running call (parking the
// task, not the thread) or returns at once; then every caller gets the same
// value (a copy: T must be copy-constructible) or, if f threw, every call
// rethrows that same exception object (Go re-panics with the same value).
// f is destroyed once it has run (Go drops it for the GC). Calling the handle
// from inside f deadlocks, as in Go. The handle must outlive the co_await.
// once_values is once_value restricted to f returning a pair or tuple: Go
// needs it for two results; in C++ it only documents the intent.
//
// Design: a shared once_state<T> holding a goro::once (which gives "at most
// once", the parking of concurrent callers and the publication: the value or
// exception is written inside the once's action, before its release store of
// `done`, and read after an acquire load of it, or after its mutex) and
// the type-erased f (a virtual call: once_fn<T> does not depend on F).
#pragma once

#include <atomic>
#include <coroutine>
#include <exception>
#include <memory>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

#include "mutex.hpp"
#include "task.hpp"

namespace goro {

class once {
public:
    once() noexcept = default;
    // The waiters are parked on m_mutex: check it here, under our own name
    // (m_mutex's destructor then finds its list empty).
    ~once() { m_mutex.destroy_wait_lists("goro::once destroyed"); }
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

namespace detail {

/// What once_fn<T> shares: the once, the outcome, and (until it ran) f.
template <typename T>
struct once_state {
    using stored = std::conditional_t<std::is_void_v<T>, std::monostate, std::optional<T>>;

    goro::once flag;
    // Written once, inside flag's action (before its release store of done);
    // read only after flag reported done (acquire) or after flag's mutex.
    stored value{};
    std::exception_ptr error;

    once_state() = default;
    once_state(const once_state&) = delete;
    once_state& operator=(const once_state&) = delete;
    virtual ~once_state() = default;

    /// Calls f once (flag's action): stores its value or exception, then drops f.
    virtual task<void> invoke() = 0;

    /// After flag is done: the value, or the stored exception rethrown.
    T outcome() const {
        if (error) std::rethrow_exception(error);  // the same object every time
        if constexpr (!std::is_void_v<T>) return *value;
    }
};

/// The value type of f's result: R for R(), V for task<V>().
template <typename R>
struct once_result {
    using type = R;
};
template <typename V>
struct once_result<task<V>> {
    using type = V;
};

template <typename T, typename F>
struct once_state_for final : once_state<T> {
    explicit once_state_for(F f) : m_f(std::move(f)) {}

    task<void> invoke() override {
        using R = std::invoke_result_t<F&>;
        try {
            if constexpr (std::is_void_v<R>)
                (*m_f)();
            else if constexpr (std::is_same_v<R, task<void>>)
                co_await (*m_f)();
            else if constexpr (std::is_void_v<T>)
                (void)(*m_f)();  // unreachable: once_func rejects non-void f
            else if constexpr (std::is_same_v<R, task<T>>)
                this->value.emplace(co_await (*m_f)());
            else
                this->value.emplace((*m_f)());
        } catch (...) {
            this->error = std::current_exception();
        }
        m_f.reset();  // f has run: release what it captured
    }

    std::optional<F> m_f;  // engaged until f has run; touched only inside flag's action
};

}  // namespace detail

/// The function returned by once_func / once_value / once_values: `co_await g()`.
template <typename T>
class once_fn {
public:
    class [[nodiscard]] awaiter {
    public:
        explicit awaiter(detail::once_state<T>* s) noexcept : m_state(s) {}
        // Fast path: f has run (acquire, pairs with the once's release store).
        bool await_ready() const noexcept { return m_state->flag.done(); }
        std::coroutine_handle<> await_suspend(std::coroutine_handle<> h) {
            m_slow = m_state->flag.call([s = m_state] { return s->invoke(); });
            return std::move(m_slow).operator co_await().await_suspend(h);
        }
        T await_resume() {
            if (m_slow) std::move(m_slow).operator co_await().await_resume();  // rethrows no_runtime only
            return m_state->outcome();
        }

    private:
        detail::once_state<T>* m_state;
        task<void> m_slow;  // the first call (runs f) or a wait for it
    };

    explicit once_fn(std::shared_ptr<detail::once_state<T>> s) noexcept : m_state(std::move(s)) {}

    /// co_await g(): f's value (or its exception, rethrown), f having run once.
    awaiter operator()() const noexcept { return awaiter(m_state.get()); }

    /// True once f has run (or thrown).
    bool done() const noexcept { return m_state->flag.done(); }

private:
    std::shared_ptr<detail::once_state<T>> m_state;
};

/// sync.OnceFunc(f): f returns void or goro::task<void>.
template <typename F>
[[nodiscard]] once_fn<void> once_func(F f) {
    using R = std::invoke_result_t<F&>;
    static_assert(std::is_void_v<R> || std::is_same_v<R, task<void>>,
                  "goro::once_func: f must return void or goro::task<void> (use once_value for a result)");
    return once_fn<void>(std::make_shared<detail::once_state_for<void, F>>(std::move(f)));
}

/// sync.OnceValue(f): f returns T or goro::task<T>; every call yields a copy of that T.
template <typename F>
[[nodiscard]] auto once_value(F f) {
    using T = typename detail::once_result<std::invoke_result_t<F&>>::type;
    static_assert(!std::is_void_v<T>, "goro::once_value: f returns nothing (use once_func)");
    static_assert(std::is_copy_constructible_v<T>, "goro::once_value: every call returns a copy of the value");
    return once_fn<T>(std::make_shared<detail::once_state_for<T, F>>(std::move(f)));
}

namespace detail {
template <typename T>
inline constexpr bool is_pair_or_tuple = false;
template <typename A, typename B>
inline constexpr bool is_pair_or_tuple<std::pair<A, B>> = true;
template <typename... A>
inline constexpr bool is_pair_or_tuple<std::tuple<A...>> = true;
}  // namespace detail

/// sync.OnceValues(f): once_value for f returning a std::pair or std::tuple
/// (or a task of one): `auto [a, b] = co_await g();`.
template <typename F>
[[nodiscard]] auto once_values(F f) {
    using T = typename detail::once_result<std::invoke_result_t<F&>>::type;
    static_assert(detail::is_pair_or_tuple<T>, "goro::once_values: f must return a std::pair or std::tuple");
    return once_value(std::move(f));
}

}  // namespace goro
