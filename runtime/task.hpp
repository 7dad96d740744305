// goro::task<T> — a lazy, move-only coroutine returning T.
//
// A task does nothing until it is awaited (co_await t), started as a
// goroutine (goro::go / goro::spawn) or given to goro::run. Awaiting it
// transfers control symmetrically into the task and, when it finishes, back to
// the awaiter: an await chain of any depth uses no native stack. An exception
// thrown in the task is stored and rethrown in the awaiter.
//
// Frames come from detail::allocate_frame (per-thread size-class lists).
// The promise embeds the goroutine record used when the task is a root.
#pragma once

#include <coroutine>
#include <exception>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "detail/frame_allocator.hpp"
#include "detail/goroutine.hpp"
#include "detail/group_state.hpp"
#include "detail/join_batch.hpp"
#include "detail/tail_calls.hpp"

// GORO_CORO_LIFETIME_CHECKS (define it before including goro, clang 19 or
// newer): marks goro::task [[clang::coro_return_type]] and
// [[clang::coro_lifetimebound]], so that clang's -Wdangling (on by default)
// warns where a task outlives a temporary it refers to and is stored:
//
//     goro::task<> t = print(std::string("x"));          // warns: the string dies here
//     goro::task<> u = [x]() -> goro::task<> {...}();    // warns: the closure dies here
//
// It sees neither `goro::go(print(std::string("x")))` nor
// `goro::go([x]() -> goro::task<> {...}())` (the temporaries last until the
// task is handed to go, and go's parameter carries no lifetime), which is why
// go(f) exists. Opt-in because coro_return_type makes a function or lambda
// that returns a task without being a coroutine a hard error unless it is
// marked [[clang::coro_wrapper]] (GORO_CORO_WRAPPER): goro's own are.
#if defined(__has_cpp_attribute)
#if __has_cpp_attribute(clang::coro_wrapper)
#define GORO_CORO_WRAPPER [[clang::coro_wrapper]]
#endif
#if defined(GORO_CORO_LIFETIME_CHECKS) && __has_cpp_attribute(clang::coro_return_type) && \
    __has_cpp_attribute(clang::coro_lifetimebound)
#define GORO_TASK_LIFETIME_ATTRIBUTES [[clang::coro_return_type, clang::coro_lifetimebound]]
#endif
#endif
#ifndef GORO_CORO_WRAPPER
#define GORO_CORO_WRAPPER
#endif
#ifndef GORO_TASK_LIFETIME_ATTRIBUTES
#define GORO_TASK_LIFETIME_ATTRIBUTES
#endif

// GORO_INLINE_WHEN_OPTIMIZED: [[gnu::always_inline]] in an optimized build
// without sanitizers, nothing otherwise. For the steps every task or fork
// runs (the final awaiter, fj::all's awaiter), which clang otherwise left
// calls. Not forced where symmetric transfer is no tail call (-O0, the
// sanitizers): there each await nests a native frame, and forcing the
// final awaiter's rare ends into every one of them grew each enough that
// ASan's deep await chain test overflowed the stack (detail/tail_calls.hpp).
#if GORO_TAIL_CALLS
#define GORO_INLINE_WHEN_OPTIMIZED [[gnu::always_inline]]
#else
#define GORO_INLINE_WHEN_OPTIMIZED
#endif

namespace goro {

template <typename T = void>
class GORO_TASK_LIFETIME_ATTRIBUTES task;

namespace detail {

/// task_promise_base's operator new's test of one parameter type: false
/// for a type incomplete where it is first asked (a class template, not a
/// concept: a concept's answer may not change later in the translation
/// unit, and g++ rejects the program when it does).
template <typename T, typename = void>
struct frame_param_trivial : std::false_type {};
template <typename T>
struct frame_param_trivial<T, std::void_t<decltype(sizeof(T))>> : std::is_trivially_destructible<T> {};

struct task_promise_base : goroutine {
    // A group member's frame holds a reference to its group's state (see
    // detail/group_state.hpp), dropped here: whether the task finished (its
    // final awaiter destroys the frame) or is destroyed unfinished at
    // shutdown, which runs no final awaiter and must wake nobody.
    ~task_promise_base() {
        // relaxed: written before the goroutine was started (published by its queue push).
        if (kind == goroutine_kind::group_member) [[unlikely]]
            release_member_reference(join_state.group());
    }

    // The frame's allocation sees the coroutine's parameters, as lvalues
    // (a member function's object among them, and with g++ a lambda's
    // closure; a frame holds only the address of either). When
    // all are trivially destructible, nothing in a finished frame but this
    // promise needs destroying, and release_finished may free it without
    // the compiler's destroy: allocate_task_frame marks it so
    // (frees_directly); allocate_task_frame_nontrivial does not. A
    // reference parameter is judged by what it refers to (conservative),
    // and as non-trivial when that is an incomplete type. Decided here
    // rather than by a flag in the promise: no store in every task's ramp,
    // no load at its end. Both operators are always inlined, at -O0 too:
    // g++ does not pair a template operator new with this operator delete
    // and, where they stay calls, warns on every coroutine
    // (-Wmismatched-new-delete, in -Wall; tests/install_test.cpp builds a
    // program at -O0 -Wall -Wextra -Werror).
    template <typename... Params>
    [[gnu::always_inline]] static void* operator new(std::size_t size, Params&...) {
        return allocate_task_frame_inline<(frame_param_trivial<Params>::value && ...)>(size);
    }
    [[gnu::always_inline]] static void operator delete(void* frame, std::size_t size) noexcept {
        free_task_frame(frame, size);
    }

    std::suspend_always initial_suspend() noexcept { return {}; }

    struct final_awaiter {
        bool await_ready() const noexcept { return false; }
        // Always inlined when optimized: clang left it a call in every
        // coroutine (a fork-join fib call: 18 instructions, of 240; issue
        // 14), as g++ did in large bodies. Kept whole: its rare ends out of
        // line (a call) cost g++ a few instructions on the common ones.
        template <typename Promise>
        GORO_INLINE_WHEN_OPTIMIZED std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> self) noexcept {
            task_promise_base& p = self.promise();
            // The two common ends first, each one test (a switch on all
            // the kinds was a jump table, 7 instructions: issue 14): an
            // awaited task, and a spawned one that its joiner ran in place
            // (run_in_place made frame_link the joiner's continuation).
            if (p.kind == goroutine_kind::nested) [[likely]]
                // No continuation: the task was resumed by hand, not awaited.
                return p.frame_link ? p.frame_link : std::noop_coroutine();
            if (p.kind == goroutine_kind::in_place) [[likely]] {
                end_in_place(&p);
                return p.frame_link;
            }
            // A child of a goro::join_all run in place: on to its next one.
            // `>`, not `==`: in_place_batch is the last kind, and the
            // compiler then tests it with the flags of the compare above
            // (one jump), rather than a compare of its own that every
            // goroutine's end below would pay too.
            static_assert(static_cast<int>(goroutine_kind::in_place_batch) ==
                              static_cast<int>(goroutine_kind::in_place) + 1 &&
                          static_cast<int>(goroutine_kind::fj_last) == static_cast<int>(goroutine_kind::in_place) + 2);
            if (p.kind > goroutine_kind::in_place) return join_batch_next(&p);
            switch (p.kind) {
                case goroutine_kind::nested:
                case goroutine_kind::in_place:
                case goroutine_kind::in_place_batch:
                case goroutine_kind::fj_last:
                    return std::noop_coroutine();  // handled above
                case goroutine_kind::detached:
                    finish_goroutine(&p);
                    destroy_unawaited(self);
                    return std::noop_coroutine();
                // [[likely]]: the most common goroutine end (goro::spawn),
                // tested first (g++ 12 otherwise tests main, group_member,
                // then joinable: 4 instructions more to reach it).
                case goroutine_kind::joinable: [[likely]] {
                    // Not run in place (that is the in_place end, above).
                    finish_goroutine(&p);
                    const join_word::finish_outcome out = p.join_state.finish();
                    if (out.detached) {
                        // Its handle was dropped before it finished: it ran
                        // detached, so an exception escaping it is a panic, as
                        // for goro::go (nobody could ever see it otherwise).
                        destroy_unawaited(self);
                        return std::noop_coroutine();
                    }
                    if (!out.waiter) return std::noop_coroutine();  // joiner comes later
                    // A join_all waits for it and its siblings: the last to
                    // finish resumes the join_all's record.
                    if (join_word::is_batch(out.waiter)) [[unlikely]]
                        return join_batch_member_finished(join_word::batch_of(out.waiter));
                    goroutine* joiner = static_cast<goroutine*>(out.waiter);
                    switch_to(joiner);
                    return joiner->resume_point;  // run the joiner right here
                }
                case goroutine_kind::group_member: {
                    finish_goroutine(&p);
                    // relaxed: set before the goroutine started (see ~task_promise_base).
                    group_state* st = p.join_state.group();
                    member_outcome out = member_finished(st, self.promise().take_exception());
                    // While this frame still holds its reference to the state:
                    // the first error cancels the group's context.
                    if (out.cancel) st->cancel();
                    // Free the frame (and its reference) first: a woken waiter
                    // holds a reference of its own, and this frame is nobody's.
                    release_finished(self);
                    for (goroutine* g : out.to_wake) ready(g);
                    return std::noop_coroutine();
                }
                case goroutine_kind::main:
                    finish_goroutine(&p);
                    main_finished();
                    return std::noop_coroutine();
            }
            return std::noop_coroutine();
        }
        void await_resume() const noexcept {}

        // The end of a task that nobody will await (goro::go, or a spawned
        // task whose handle was dropped): frees its frame, then panics if an
        // exception escaped it (the panic needs nothing from the frame).
        template <typename Promise>
        static void destroy_unawaited(std::coroutine_handle<Promise> self) noexcept {
            task_promise_base& p = self.promise();
            std::exception_ptr error = self.promise().take_exception();
            const std::source_location site = p.spawn_site;
            const std::uint64_t id = p.id;
            release_finished(self);
            if (error) panic(site, id, std::move(error));
        }
    };
    final_awaiter final_suspend() noexcept { return {}; }
};

template <typename T>
struct task_promise final : task_promise_base {
    std::variant<std::monostate, T> value;
    std::exception_ptr exception;

    task<T> get_return_object() noexcept;

    template <typename U = T>
        requires std::is_convertible_v<U&&, T>
    void return_value(U&& v) noexcept(std::is_nothrow_constructible_v<T, U&&>) {
        value.template emplace<1>(std::forward<U>(v));
    }
    void unhandled_exception() noexcept { exception = std::current_exception(); }
    std::exception_ptr take_exception() noexcept { return std::move(exception); }

    T take_result() {
        if (exception) std::rethrow_exception(exception);
        // The task returned (no exception): `value` holds its value. get_if
        // rather than get: no throw path for a case that cannot happen; and
        // the compiler is told so, or it keeps a test of the index (two
        // instructions a task; UBSan reports it if it ever happened).
        if (value.index() != 1) __builtin_unreachable();
        return std::move(*std::get_if<1>(&value));
    }
};

template <>
struct task_promise<void> final : task_promise_base {
    std::exception_ptr exception;

    task<void> get_return_object() noexcept;
    void return_void() noexcept {}
    void unhandled_exception() noexcept { exception = std::current_exception(); }
    std::exception_ptr take_exception() noexcept { return std::move(exception); }
    void take_result() {
        if (exception) std::rethrow_exception(exception);
    }
};

/// Frees the frame of a task that finished (suspended at its final
/// suspension point): its promise destroyed and its memory freed directly
/// where the frame says so (frees_directly: goro allocated it there, and
/// nothing else in it needs destroying), through the compiler's destroy
/// otherwise. The direct way costs no entry into the coroutine's
/// body: g++ runs destroy through it, with the body's whole prologue and
/// epilogue and a dispatch on the suspension point (a fork-join fib call:
/// about 30 instructions a task fewer; issue 14).
template <typename Promise>
[[gnu::always_inline]] inline void release_finished(std::coroutine_handle<Promise> h) noexcept {
    Promise& p = h.promise();
    if (frees_directly(h.address())) [[likely]] {
        p.~Promise();
        free_finished_task_frame(h.address());
    } else {
        h.destroy();
    }
}

}  // namespace detail

template <typename T>
class [[nodiscard]] GORO_TASK_LIFETIME_ATTRIBUTES task {
public:
    using promise_type = detail::task_promise<T>;
    using handle_type = std::coroutine_handle<promise_type>;
    using value_type = T;

    task() noexcept = default;
    explicit task(handle_type h) noexcept : m_handle(h) {}
    task(task&& other) noexcept : m_handle(std::exchange(other.m_handle, {})) {}
    task& operator=(task&& other) noexcept {
        if (this != &other) {
            if (m_handle) drop_frame();
            m_handle = std::exchange(other.m_handle, {});
        }
        return *this;
    }
    task(const task&) = delete;
    task& operator=(const task&) = delete;
    // The test inline (an array of tasks given away leaves every one empty),
    // always when optimized: clang otherwise weighs the frame's release
    // below and may leave the destructor a call in every coroutine that
    // makes a task (six instructions a fib call under fj::all:
    // benchmarks/RESULTS.md, 2026-12-01 04:00).
    GORO_INLINE_WHEN_OPTIMIZED ~task() {
        if (m_handle) drop_frame();
    }

    /// True when the task holds a coroutine (a default-constructed or moved-from task does not).
    explicit operator bool() const noexcept { return static_cast<bool>(m_handle); }

    auto operator co_await() && noexcept {
        struct awaiter {
            handle_type child;
            bool await_ready() const noexcept { return !child; }
            std::coroutine_handle<> await_suspend(std::coroutine_handle<> parent) noexcept {
                child.promise().frame_link = parent;
                return child;  // symmetric transfer into the child
            }
            GORO_INLINE_WHEN_OPTIMIZED T await_resume() {
                if (!child) throw std::logic_error("goro::task: awaited an empty task");
                return child.promise().take_result();
            }
        };
        return awaiter{m_handle};
    }
    // co_await on an lvalue task is allowed too: the task stays owned by the caller.
    auto operator co_await() & noexcept { return std::move(*this).operator co_await(); }

    /// Gives up ownership of the coroutine (used by go/spawn/run).
    handle_type release() noexcept { return std::exchange(m_handle, {}); }

private:
    // A finished frame (the task was awaited) the direct way
    // (release_finished); any other, unstarted or suspended inside, through
    // the compiler's destroy.
    void drop_frame() noexcept {
        if (m_handle.done())
            detail::release_finished(m_handle);
        else
            m_handle.destroy();
    }

    handle_type m_handle;
};

namespace detail {
template <typename T>
task<T> task_promise<T>::get_return_object() noexcept {
    return task<T>{std::coroutine_handle<task_promise<T>>::from_promise(*this)};
}
inline task<void> task_promise<void>::get_return_object() noexcept {
    return task<void>{std::coroutine_handle<task_promise<void>>::from_promise(*this)};
}
}  // namespace detail

}  // namespace goro
