// goro::fj::all — fork-join for divide-and-conquer code, with children that
// become goroutines only when an idle processor can take them.
//
//     goro::task<long> fib(int n) {
//         if (n < 2) co_return n;
//         auto [a, b] = co_await goro::fj::all(fib(n - 1), fib(n - 2));
//         co_return a + b;
//     }
//
//     std::array<goro::task<long>, 10> kids;                  // a fan-out of 10
//     for (int i = 0; i < 10; ++i) kids[i] = work(i);
//     std::array<long, 10> values = co_await goro::fj::all(std::move(kids));
//     values = co_await goro::fj::all(std::move(kids), n);    // the first n
//
//     auto made = std::views::iota(0, 10) | std::views::transform(work);
//     values = co_await goro::fj::all<10>(made);              // at most 10, from a range
//
// The range form takes each task as the range makes it: with a view that
// makes them, no array of tasks is filled, moved from and destroyed. It is
// the cheapest form for a fan-out (skynet, g++: 178 instructions a task;
// 215 with the array form before the range form and its other cuts).
//
// What it does. The children run one after another on the awaiting
// goroutine, last first, as nested tasks: a child's end transfers straight
// into the next, with no runtime call in between. Whenever a fork-join
// region opens while some processor is idle or spinning and this one's
// queue is empty, the oldest child not yet started (of the outermost open
// region: the biggest piece of work left) is made a goroutine and queued,
// for that processor to steal. So a program that keeps every processor
// busy pays for almost no goroutines; one that leaves a processor idle
// hands it work at the next fork. (This is work *requesting*, where
// goro::spawn is work stealing: Acar, Charguéraud and Rainey, "Scheduling
// Parallel Programs by Work Stealing with Private Deques", PPoPP 2013.)
//
// Against goro::spawn and a co_await per child, where every child is a
// goroutine: a skynet task costs 178 instructions against 410, a fib call
// 200 against 265 (g++; benchmarks/RESULTS.md, 2026-11-30 21:50).
//
// The contract, which Go's goroutines do not have (it is Cilk's, and
// libfork's and TooManyCooks'):
//   - a child may park (a channel, a mutex, I/O, a sleep, a join): the
//     awaiting goroutine waits with it, and its unstarted siblings wait
//     too;
//   - so a child must not wait for a sibling (a channel between two
//     children of one fj::all can deadlock: the sibling may be unstarted,
//     behind it). Use goro::spawn or goro::join_all for children that talk;
//   - a child not yet made a goroutine is not one: it has no id, is not
//     counted by goro::num_goroutines(), and a dump shows its work as the
//     awaiting goroutine's. Promoted children are ordinary goroutines
//     (created at this header, in a dump).
//   - after a park inside a region, the regions that enclose it no longer
//     hand out work until the region closes (their children run in place);
//   - a region never goes through the scheduler's loop. Each fork counts
//     as a scheduling event while nothing else waits on its processor;
//     when something does (a readied goroutine, a timer, I/O, the global
//     queue), the region counts as one long computation, and the monitor
//     hands the processor off to another thread, as for any.
//
// The values come back in the children's order: a std::tuple for the
// variadic form (std::monostate for a task<void>; nothing when all are
// void), a std::array for the array and range forms. Every child runs to
// its end, even when one threw; then the first exception in the children's
// order is rethrown and the others are discarded, as goro::join_all does.
// The tasks are taken over at the call; an fj::all never awaited frees
// them, unrun.
#pragma once

#include <array>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <iterator>
#include <source_location>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

#include "detail/fork_join_region.hpp"
#include "detail/task_iterator.hpp"
#include "error.hpp"
#include "go.hpp"
#include "task.hpp"

namespace goro {

namespace detail {

template <typename T>
using fj_value_t = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

/// Whether fj::all harvests a child of task<T> with take_into_slot: a value
/// moved without a throw (or none), so that the only exception a child can
/// hand over is its own.
template <typename T>
inline constexpr bool fj_takes_without_throw =
    std::is_void_v<T> || (std::is_nothrow_move_constructible_v<T> && std::is_nothrow_move_assignable_v<T>);

/// What fj::all's awaiters share: the region and its N children (the first
/// m_region.count of them).
template <std::size_t N>
class fj_awaiter_base {
public:
    fj_awaiter_base(const fj_awaiter_base&) = delete;
    fj_awaiter_base& operator=(const fj_awaiter_base&) = delete;

    // Frees what is still ours. Never awaited: every child, unrun. Destroyed
    // while suspended (the joiner's frame freed at shutdown): the children
    // run in place (unstarted, suspended inside their run, or finished),
    // and the promoted ones that are ours alone (finished, or run in place
    // by the wait: batch.running); the others run on detached, or are
    // freed by the shutdown that is destroying us (join_word.hpp).
    ~fj_awaiter_base() {
        // After await_resume every child is taken: no walk (join_all's
        // measure: 13 instructions a node).
        if (m_taken) [[likely]]
            return;
        free_untaken();
    }

    bool await_ready() const noexcept { return m_region.count == 0; }

private:
    // Out of line and cold: it runs only for an fj::all never awaited or
    // destroyed while suspended, and inlined it was in every coroutine
    // that awaits one, twice (its end and its destroy: g++'s fork-join fib
    // body, 586 lines of assembly before this and the harvest without a
    // landing pad, 439 after).
    [[gnu::noinline, gnu::cold]] void free_untaken() noexcept {
        const std::uint32_t promoted = m_region.promoted;  // 0 unless awaited
        for (std::uint32_t i = 0; i < m_region.count; ++i) {
            if (i < promoted) {
                goroutine* g = m_children[i];
                if (g != m_region.batch().running && !g->join_state.detach()) continue;
            }
            std::coroutine_handle<>::from_address(m_frames[i]).destroy();
        }
    }

public:

    // The region's fields but its count, promoted and site are written
    // here, not at construction: an fj::all is awaited where it is made.
    // The tuple form's steps are always inlined when optimized without
    // sanitizers (task.hpp's GORO_INLINE_WHEN_OPTIMIZED): clang left them
    // calls (take, harvest, take_into; with the task's final awaiter, clang's
    // `suite_fib_fj 27 1` went from 797 to 652 M instructions:
    // benchmarks/RESULTS.md, 2026-11-30 18:45).
    GORO_INLINE_WHEN_OPTIMIZED std::coroutine_handle<> await_suspend(std::coroutine_handle<> me) noexcept {
        // The in-place chain (step 1 of the protocol): each child's end
        // starts the one below it, c[0]'s the joiner. Here rather than in
        // fj_open: the children's records are still in registers.
        m_children[0]->frame_link = me;
        for (std::uint32_t i = 1; i < m_region.count; ++i)
            m_children[i]->frame_link = std::coroutine_handle<>::from_address(m_frames[i - 1]);
        m_region.children = m_children.data();
        m_region.frames = m_frames;
        m_region.joiner = me.address();
        // The first child to run, read before the call: fj_open answers
        // null for it (all but a bounce), and the address stays in a
        // register rather than being loaded back through the region.
        void* const first = m_frames[m_region.count - 1];
        std::coroutine_handle<> next;
        if constexpr (k_fj_bounded_here)  // the user's build
            next = fj_open_bounded(&m_region);
        else
            next = fj_open(&m_region);
        return next ? next : std::coroutine_handle<>::from_address(first);
    }

protected:
    // The site goes straight into the region (a copy kept for the await
    // cost a load and a store per fork). The region's count is the
    // awaiter's own (children [0, count) are ours), written once: `count`
    // when the caller knows it (the tuple and array forms, which check their
    // tasks before constructing this), 0 for the range form, which counts
    // as it adopts. `promoted` is 0 until the await (then fj_open's), so
    // the destructor reads it whether or not the awaiter was awaited.
    fj_awaiter_base(std::source_location site, std::uint32_t count) noexcept {
        m_region.site = site;
        m_region.count = count;
        m_region.promoted = 0;
    }

    // Child i in slot i: the region runs the last first. (Kept in reverse,
    // so that they ran first to last, nqueens 13 ran 9 % slower and
    // skynet 2 % slower, fib 3 % faster: 3 runs each, 2026-11-30.)
    template <typename T>
    void adopt(std::size_t i, task<T>& t) noexcept {
        auto h = t.release();
        m_children[i] = &h.promise();
        m_frames[i] = h.address();
    }

    /// await_resume's first step (every child has finished).
    GORO_INLINE_WHEN_OPTIMIZED void close() noexcept {
        if (m_region.count != 0) fj_close(&m_region);
    }

    /// Child i's value (or its exception); its frame is freed either way.
    template <typename T>
    GORO_INLINE_WHEN_OPTIMIZED T take(std::size_t i) {
        return take_result_and_free(std::coroutine_handle<task_promise<T>>::from_address(m_frames[i]));
    }

    /// Child i's value into *slot (a void child: slot unused), or its
    /// exception into `first` unless an earlier child's is there; its frame
    /// freed either way. The harvest of a child whose value moves without a
    /// throw: the exception is moved, not rethrown and caught, and the body
    /// has no landing pad per child (g++ saved and restored registers for
    /// them at every entry into an awaiting coroutine).
    template <typename T, typename Slot>
        requires fj_takes_without_throw<T>
    GORO_INLINE_WHEN_OPTIMIZED void take_into_slot(std::size_t i, Slot* slot, std::exception_ptr& first) noexcept {
        const auto h = std::coroutine_handle<task_promise<T>>::from_address(m_frames[i]);
        task_promise<T>& p = h.promise();
        if (p.exception) [[unlikely]] {
            if (!first) first = std::move(p.exception);
        } else if constexpr (!std::is_void_v<T>) {
            // It returned: `value` holds its value (task_promise::take_result).
            if (p.value.index() != 1) __builtin_unreachable();
            *slot = std::move(*std::get_if<1>(&p.value));
        }
        // A child is never a group member (it is nested, fj_last, or a
        // joinable goroutine once promoted). Said to the compiler, the
        // promise's destructor loses its test of that kind: 2 instructions
        // a child with g++ (issue 14).
        GORO_ASSERT(p.kind != goroutine_kind::group_member);
        if (p.kind == goroutine_kind::group_member) __builtin_unreachable();
        release_finished(h);
    }

    fj_region m_region;  // written at the await (await_suspend, fj_open), but its site, count and promoted
    std::array<goroutine*, N> m_children;
    // The frames' addresses, not std::coroutine_handle<>s: a handle's
    // default constructor nulls it, and every fork-join paid for nulling
    // all N (g++: a `rep stos` in every nqueens node, most of which fork
    // nothing). Slots [0, m_region.count) are written by adopt; the rest are never
    // read. One slot at least: a built-in array may not be empty (fj::all
    // over a std::array of none is valid, and awaits nothing).
    void* m_frames[N == 0 ? 1 : N];
    bool m_taken = false;  // await_resume took every child
};

template <typename... T>
class [[nodiscard]] fj_tuple_awaiter : public fj_awaiter_base<sizeof...(T)> {
public:
    static constexpr bool all_void = (std::is_void_v<T> && ...);
    using result = std::conditional_t<all_void, void, std::tuple<fj_value_t<T>...>>;

    explicit fj_tuple_awaiter(std::source_location site, task<T>&... tasks)
        : fj_awaiter_base<sizeof...(T)>(site, checked_count(tasks...)) {
        std::size_t slot = 0;
        (this->adopt(slot++, tasks), ...);
    }

    GORO_INLINE_WHEN_OPTIMIZED result await_resume() {
        this->close();
        return harvest(std::index_sequence_for<T...>{});
    }

private:
    // Before the base is constructed, so that its count is written once.
    static std::uint32_t checked_count(const task<T>&... tasks) {
        if (!(static_cast<bool>(tasks) && ...)) throw runtime_error("goro::fj::all: an empty task");
        return sizeof...(T);
    }

    template <std::size_t... I>
    GORO_INLINE_WHEN_OPTIMIZED result harvest(std::index_sequence<I...>) {
        std::exception_ptr first;
        if constexpr (all_void) {
            this->m_taken = true;  // from here on the harvest frees every frame
            (take_into<I, T>(static_cast<std::monostate*>(nullptr), first), ...);
            if (first) std::rethrow_exception(first);
        } else {
            std::tuple<fj_value_t<T>...> values;  // may throw: nothing taken yet
            this->m_taken = true;                 // from here on the harvest frees every frame
            (take_into<I, T>(&std::get<I>(values), first), ...);
            if (first) std::rethrow_exception(first);
            return values;
        }
    }

    template <std::size_t I, typename U, typename Slot>
    GORO_INLINE_WHEN_OPTIMIZED void take_into(Slot* slot, std::exception_ptr& first) noexcept {
        if constexpr (fj_takes_without_throw<U>) {
            this->template take_into_slot<U>(I, slot, first);
        } else {
            try {
                *slot = this->template take<U>(I);
            } catch (...) {
                if (!first) first = std::current_exception();
            }
        }
    }
};

template <typename T, std::size_t N>
class [[nodiscard]] fj_array_awaiter : public fj_awaiter_base<N> {
public:
    using result = std::conditional_t<std::is_void_v<T>, void, std::array<fj_value_t<T>, N>>;

    fj_array_awaiter(std::source_location site, std::array<task<T>, N>& tasks, std::size_t count)
        : fj_awaiter_base<N>(site, checked_count(tasks, count)) {
        for (std::size_t i = 0; i < count; ++i) this->adopt(i, tasks[i]);
    }

    // The range form: each task adopted as the range makes it, with no
    // array of tasks in between. On a throw (an empty task, one too many,
    // or the range's own), the base's destructor frees those adopted so
    // far, unrun (nothing promoted). A range that knows its length and
    // is too long is refused before any task is taken.
    template <std::input_iterator It, std::sentinel_for<It> End>
    fj_array_awaiter(std::source_location site, It first, End last) : fj_awaiter_base<N>(site, 0) {
        if (known_longer_than<N>(first, last)) throw runtime_error("goro::fj::all: a range longer than its bound N");
        std::uint32_t& count = this->m_region.count;
        for (; first != last; ++first) {
            if (count == N) throw runtime_error("goro::fj::all: a range longer than its bound N");
            task<T> t = std::ranges::iter_move(first);
            if (!t) throw runtime_error("goro::fj::all: an empty task");
            this->adopt(count, t);
            ++count;
        }
    }

    // Inlined as the tuple form's steps are: clang left it a call, and
    // nqueens' nodes, most of which fork nothing, paid for one each
    // (`suite_nqueens_fj 1 11`, clang: 294 -> 287 M instructions).
    GORO_INLINE_WHEN_OPTIMIZED result await_resume() {
        this->close();
        std::exception_ptr first;
        const std::uint32_t n = this->m_region.count;
        if constexpr (std::is_void_v<T>) {
            this->m_taken = true;  // from here on the harvest frees every frame
            for (std::uint32_t i = 0; i < n; ++i)
                this->template take_into_slot<void>(i, static_cast<std::monostate*>(nullptr), first);
            if (first) std::rethrow_exception(first);
        } else {
            result values{};       // may throw: nothing taken yet
            this->m_taken = true;  // from here on the harvest frees every frame
            for (std::uint32_t i = 0; i < n; ++i) {
                if constexpr (fj_takes_without_throw<T>) {
                    this->template take_into_slot<T>(i, &values[i], first);
                } else {
                    try {
                        values[i] = this->template take<T>(i);
                    } catch (...) {
                        if (!first) first = std::current_exception();
                    }
                }
            }
            if (first) std::rethrow_exception(first);
            return values;
        }
    }

private:
    // Before the base is constructed, so that its count is written once.
    static std::uint32_t checked_count(const std::array<task<T>, N>& tasks, std::size_t count) {
        if (count > N) throw runtime_error("goro::fj::all: a count above the array's size");
        for (std::size_t i = 0; i < count; ++i)
            if (!tasks[i]) throw runtime_error("goro::fj::all: an empty task");
        return static_cast<std::uint32_t>(count);
    }
};

}  // namespace detail

namespace fj {

/// Runs every task, in place or, when a processor wants work, as goroutines;
/// returns once all have finished: their values in order as a std::tuple
/// (std::monostate for a void task; void when all are void), or the first
/// exception in order. None may be empty (goro::runtime_error, taking
/// none). See the header comment for the contract.
template <typename... T>
    requires(sizeof...(T) > 0)
auto all(task<T>... tasks) {
    static_assert(((std::is_void_v<T> || std::is_default_constructible_v<T>) && ...),
                  "goro::fj::all needs default-constructible value types");
    // Promoted children name this line as where they were created: a
    // parameter pack cannot be followed by a defaulted source_location.
    return detail::fj_tuple_awaiter<T...>(std::source_location::current(), tasks...);
}

/// The same over an array of tasks; the values come back as a std::array.
template <typename T, std::size_t N>
auto all(std::array<task<T>, N>&& tasks, std::source_location site = std::source_location::current()) {
    static_assert(std::is_void_v<T> || std::is_default_constructible_v<T>,
                  "goro::fj::all over a std::array needs a default-constructible value type");
    return detail::fj_array_awaiter<T, N>(site, tasks, N);
}

/// The first `count` tasks of the array (a fan-out known at run time, the
/// array its bound); the values in a std::array of N, the first `count`
/// theirs (the rest value-initialized). The tasks from `count` on stay in
/// the array, unrun. A count above N throws goro::runtime_error.
template <typename T, std::size_t N>
auto all(std::array<task<T>, N>&& tasks, std::size_t count,
         std::source_location site = std::source_location::current()) {
    static_assert(std::is_void_v<T> || std::is_default_constructible_v<T>,
                  "goro::fj::all over a std::array needs a default-constructible value type");
    return detail::fj_array_awaiter<T, N>(site, tasks, count);
}

/// Up to N tasks from an iterator range, the form of TooManyCooks'
/// spawn_many<N>(begin, end): each task is taken (moved from its element)
/// as the range makes it, so a range that makes them (a transform view)
/// needs no array of tasks at all. The values come back as a std::array
/// of N, the first as many as the range had theirs (the rest
/// value-initialized). An empty task throws goro::runtime_error, as does a
/// range longer than N; the range's own exceptions propagate. The tasks
/// taken by then are freed, unrun; an iterator pair that knows its length
/// (iterators that subtract: a vector's, a sized view's) and is too long
/// gives up none.
template <std::size_t N, detail::task_iterator It, std::sentinel_for<It> End>
auto all(It first, End last, std::source_location site = std::source_location::current()) {
    using T = detail::task_iterator_value_t<It>;
    static_assert(std::is_void_v<T> || std::is_default_constructible_v<T>,
                  "goro::fj::all over a range needs a default-constructible value type");
    return detail::fj_array_awaiter<T, N>(site, std::move(first), std::move(last));
}

/// The same over a whole range: fj::all<N>(std::ranges::begin(r),
/// std::ranges::end(r)); a range that knows its size and is too long (a
/// std::list too, whose iterators cannot subtract) gives up none.
template <std::size_t N, detail::task_range R>
auto all(R&& range, std::source_location site = std::source_location::current()) {
    if (detail::size_known_longer_than<N>(range)) throw runtime_error("goro::fj::all: a range longer than its bound N");
    return fj::all<N>(std::ranges::begin(range), std::ranges::end(range), site);
}

}  // namespace fj

}  // namespace goro
