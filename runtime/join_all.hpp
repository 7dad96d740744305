// goro::join_all — wait for a set of goroutines at once; and
// goro::spawn_all, which starts a set at once.
//
//     std::array<goro::join_handle<long>, 10> children;
//     for (int i = 0; i < 10; ++i) children[i] = goro::spawn(work(i));
//     std::array<long, 10> values = co_await goro::join_all(std::move(children));
//
//     std::array<goro::task<long>, 10> tasks;
//     for (int i = 0; i < 10; ++i) tasks[i] = work(i);
//     values = co_await goro::join_all(std::move(tasks));   // starts them too
//
//     std::array<goro::task<long>, 10> some;                 // a fan-out known
//     std::size_t n = 0;                                      // at run time, at
//     for (int i = 0; i < 10; ++i)                            // most 10
//         if (wanted(i)) some[n++] = work(i);
//     values = co_await goro::join_all(std::move(some), n);  // values[0, n)
//
//     auto made = std::views::iota(0, 10) | std::views::filter(wanted) |
//                 std::views::transform(work);
//     values = co_await goro::join_all<10>(made);            // at most 10, from a range
//
// spawn_all(tasks) is goro::spawn of each task, in order, in one runtime
// call (one count of the new goroutines and one wake-up of an idle
// processor for them all, where a spawn each makes a call each): it
// returns their handles in the same order. join_all(tasks) starts them
// the same way at its co_await and joins them, with no handles in
// between: the cheapest way to fork a set of several and join it
// (callgrind, the suite's skynet at 1 processor: 362 instructions a task,
// against 433 for a join per handle; benchmarks/RESULTS.md, 2026-11-30).
// For one or two children a batch's set-up does not pay: a spawn and a
// co_await each (or, for two, one spawned and one awaited as a nested
// task) costs as little or less (the suite's nqueens and fib).
//
// join_all(tasks, n) is for a fan-out that varies from node to node (the
// suite's nqueens: a child per safe column, up to N): the first n tasks of
// a std::array, as TooManyCooks' spawn_many<N>(iterator, n), with no
// allocation. The array's size bounds n at compile time, so the list of
// goroutines lives in the awaiter, in the joiner's frame; a std::span of
// tasks, with n known only at run time, would need a list allocated per
// join (join_all over a std::vector does that). Nothing has to outlive
// the call: the n tasks are taken over by it (emptied), the values come
// back by value (a std::array of N, the first n theirs), and the tasks
// from n on stay in the array, untouched. join_all<N>(range) takes up to
// N tasks from a range as it makes them (TooManyCooks'
// spawn_many<N>(begin, end)): with a view that makes them, no array of
// tasks is filled at all.
//
// The same as awaiting each handle in turn, in one suspension:
//   - the values come back in the handles' order (std::array for an array
//     of handles, std::vector for a vector; nothing for join_handle<void>);
//   - it returns once every child has finished, even when one of them threw;
//     then it rethrows the exception of the first child (in the handles'
//     order) that threw; the others' are discarded, as a dropped finished
//     handle's are;
//   - the handles are taken over at the call: a join_all that is never
//     awaited lets its children run on unjoined, as dropped handles do;
//     one over tasks (which start at the co_await) frees them, run none.
//
// Why a call of its own: awaiting children one by one suspends and resumes
// the joiner once per child, and costs two runtime calls per child that
// runs in place. join_all suspends the joiner once and runs the children it
// finds unstarted on its own deque one after the other, newest first, with
// one runtime call each; it waits for the rest (stolen by other processors,
// or run by the scheduler) with one park (runtime/detail/join_batch.hpp).
// A join_all of one child joins it as co_await on its handle does, which
// is cheaper than a batch of one (join_all_awaiter::join_one).
// Every child is still a goroutine of its own: it has its id, shows in a
// dump, may be stolen, and may park (a child run in place that parks parks
// the joiner with it, which was waiting for it anyway).
//
// Go has no equivalent: a sync.WaitGroup and a slice of results, or an
// errgroup, is the closest.
#pragma once

#include <array>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <iterator>
#include <limits>
#include <source_location>
#include <type_traits>
#include <utility>
#include <vector>

#include "detail/join_batch.hpp"
#include "detail/task_iterator.hpp"
#include "error.hpp"
#include "go.hpp"
#include "task.hpp"

namespace goro {

namespace detail {

struct join_all_access {
    template <typename T>
    static goroutine* release(join_handle<T>& h) noexcept {
        return &std::exchange(h.m_handle, {}).promise();
    }
};

/// The first `count` goroutines of an array of N: join_all(tasks, count)'s
/// list of children (its other forms use a std::array or a std::vector).
template <std::size_t N>
struct bounded_children {
    std::array<goroutine*, N> items;  // [count, N) never written nor read
    std::size_t count;
    goroutine** data() noexcept { return items.data(); }
    std::size_t size() const noexcept { return count; }
    goroutine** begin() noexcept { return items.data(); }
    goroutine** end() noexcept { return items.data() + count; }
    goroutine*& operator[](std::size_t i) noexcept { return items[i]; }
};

template <typename Children>
inline constexpr bool is_bounded_children = false;
template <std::size_t N>
inline constexpr bool is_bounded_children<bounded_children<N>> = true;

/// What `co_await join_all(...)` gives: Result collects the values (void
/// for join_handle<void>), Children holds the goroutines (a std::array, a
/// std::vector or a bounded_children of goroutine*, in the handles' order).
template <typename T, typename Children, typename Result>
class [[nodiscard]] join_all_awaiter {
public:
    // Builds its list of children in place, in the joiner's frame (the
    // join_all functions return the awaiter itself): `fill` stores the
    // `count` goroutines in order at m_children.data() (a std::array is not
    // zeroed first). `unstarted`: goroutines prepared by prepare_spawns, not
    // started (join_all(tasks)); the await starts them. When `fill` throws
    // (an empty handle or task, checked before any is taken; the range
    // form's, which frees what it took), we hold nothing. A `fill` that
    // returns a count (the range form, into a bounded_children) sets it:
    // `count` is then unused.
    template <typename Fill>
    join_all_awaiter(std::size_t count, bool unstarted, Fill&& fill) : m_unstarted(unstarted) {
        if constexpr (std::is_same_v<Children, std::vector<goroutine*>>)
            m_children.resize(count);
        else if constexpr (is_bounded_children<Children>)
            m_children.count = count;
        if constexpr (std::is_void_v<decltype(fill(m_children.data()))>) {
            fill(m_children.data());
        } else {
            static_assert(is_bounded_children<Children>);
            m_children.count = fill(m_children.data());
        }
    }
    join_all_awaiter(const join_all_awaiter&) = delete;
    join_all_awaiter& operator=(const join_all_awaiter&) = delete;

    // Never awaited, or destroyed while suspended (its frame destroyed at
    // shutdown): lets go of each child as a dropped handle does. The one
    // running in place is ours alone (no queue or registry holds it: it is
    // suspended inside our own run), so it goes with us; a finished one
    // (done, run in place or not) is freed; the rest run on detached, or are
    // freed by the shutdown that is destroying us.
    ~join_all_awaiter() {
        // After await_resume every child is taken (null): skip the walk
        // (it cost nqueens_bulk 13 instructions a node).
        if (m_taken) return;
        for (goroutine* g : m_children) {
            if (!g) continue;
            // Never started: nobody else knows it. (Its own frame: the
            // frame_link of one that join_one ran in place is our
            // continuation.)
            if (m_unstarted || g == m_batch.running || g->join_state.detach()) handle_of(g).destroy();
        }
    }

    bool await_ready() const noexcept { return m_children.size() == 0; }

    std::coroutine_handle<> await_suspend(std::coroutine_handle<> me) {
        if (m_children.size() == 1) return join_one(me);
        if (m_unstarted) start_children();
        m_batch.children = m_children.data();
        m_batch.count = static_cast<std::uint32_t>(m_children.size());
        m_batch.cursor = m_batch.count;
        m_batch.joiner = me;
        const std::coroutine_handle<> next = join_batch_start(&m_batch);
        if (!next) throw no_runtime("co_await on goro::join_all");
        return next;
    }

    Result await_resume() {
        // Every child has finished (or there were none): take each result
        // in order and free each frame, whatever the others threw.
        std::exception_ptr first;
        if constexpr (std::is_void_v<Result>) {
            m_taken = true;  // take_one frees each frame, whatever it throws
            for (goroutine*& g : m_children) {
                try {
                    take_one(g);
                } catch (...) {
                    if (!first) first = std::current_exception();
                }
            }
            if (first) std::rethrow_exception(first);
        } else {
            constexpr bool growable = std::is_same_v<Result, std::vector<T>>;
            Result values{};
            if constexpr (growable) values.reserve(m_children.size());
            m_taken = true;  // from here on nothing throws out of the loop
            std::size_t i = 0;
            for (goroutine*& g : m_children) {
                try {
                    if constexpr (growable)
                        values.push_back(take_one(g));
                    else
                        values[i] = take_one(g);
                } catch (...) {
                    if (!first) first = std::current_exception();
                }
                ++i;
            }
            if (first) std::rethrow_exception(first);
            return values;
        }
    }

private:
    using handle_type = std::coroutine_handle<task_promise<T>>;

    static handle_type handle_of(goroutine* g) noexcept {
        return handle_type::from_promise(static_cast<task_promise<T>&>(*g));
    }

    // One child: joined as co_await on its join_handle joins it (go.hpp),
    // run in place by run_in_place where it is still on our deque, else
    // waited for with park_joiner. A batch of one costs more: callgrind,
    // the suite's nqueens at 1 processor (59 % of its joins have one
    // child), 275 instructions a one-child join in start_goroutines,
    // join_batch_start, join_batch_next and join_batch_wait, against 165
    // in start_goroutine, run_in_place and end_in_place. The child is the
    // same goroutine either way (its id, dumps, stealing, parking).
    std::coroutine_handle<> join_one(std::coroutine_handle<> me) {
        goroutine* const g = m_children[0];
        if (m_unstarted) {
            m_unstarted = false;
            try {
                start_goroutine(g, "goro::join_all");
            } catch (...) {
                handle_of(std::exchange(m_children[0], nullptr)).destroy();
                throw;
            }
        }
        bool in_place = false;
        const std::coroutine_handle<> next = suspend_for_join(*g, handle_of(g), me, in_place, "co_await on goro::join_all");
        // Run in place: ours alone now, suspended inside our run; the
        // destructor frees it with us (m_batch is otherwise unused).
        if (in_place) m_batch.running = g;
        return next;
    }

    // join_all(tasks): starts every child, at once where the thread can
    // enter its processor (start_goroutines), else one by one; when one
    // cannot start (goro::no_runtime), it and the rest are freed, and those
    // started run on detached (the destructor lets go of them).
    void start_children() {
        m_unstarted = false;
        if (start_goroutines(m_children.data(), m_children.size())) [[likely]]
            return;
        for (std::size_t i = 0; i < m_children.size(); ++i) {
            try {
                start_goroutine(m_children[i], "goro::join_all");
            } catch (...) {
                for (std::size_t j = i; j < m_children.size(); ++j)
                    std::exchange(m_children[j], nullptr)->frame_link.destroy();
                throw;
            }
        }
    }

    // The result of the finished child `g` (or its exception); its frame
    // is freed either way, and g cleared.
    static T take_one(goroutine*& g) { return take_result_and_free(handle_of(std::exchange(g, nullptr))); }

    Children m_children;
    join_batch m_batch;
    bool m_unstarted = false;  // join_all(tasks) before its await
    bool m_taken = false;      // await_resume took every child
};

// Takes handles[0, count) over into gs, in order; none may be empty
// (goro::runtime_error, taking none).
template <typename T>
void take_handles(join_handle<T>* handles, std::size_t count, goroutine** gs) {
    for (std::size_t i = 0; i < count; ++i)
        if (!handles[i]) throw runtime_error("goro::join_all: an empty join_handle");
    for (std::size_t i = 0; i < count; ++i) gs[i] = join_all_access::release(handles[i]);
}

// join_all(tasks) and spawn_all: takes tasks[0, count) over into gs, in
// order, each prepared as spawn prepares it and not started; none may be
// empty (goro::runtime_error, "go of nil func value", as go's; taking
// none).
template <typename T>
[[gnu::always_inline]] inline void prepare_spawns(task<T>* tasks, std::size_t count, goroutine** gs, const std::source_location& site) {
    for (std::size_t i = 0; i < count; ++i)
        if (!tasks[i]) throw runtime_error("go of nil func value");
    for (std::size_t i = 0; i < count; ++i) {
        auto h = tasks[i].release();
        prepare_goroutine(h, goroutine_kind::joinable, site);
        gs[i] = &h.promise();
    }
}

// join_all<N>(first, last): takes each task as the range makes it (moved
// from its element), prepared as prepare_spawns prepares it, into gs[0, N);
// returns how many. An empty task ("go of nil func value"), one past N,
// or the range's own exception throws; the tasks taken by then are freed,
// unrun. A range that knows its length and is too long gives up none.
template <std::size_t N, typename It, typename End>
std::size_t prepare_spawns_from(It first, End last, goroutine** gs, const std::source_location& site) {
    if (known_longer_than<N>(first, last)) throw runtime_error("goro::join_all: a range longer than its bound N");
    std::size_t n = 0;
    try {
        for (; first != last; ++first) {
            if (n == N) throw runtime_error("goro::join_all: a range longer than its bound N");
            std::iter_value_t<It> t = std::ranges::iter_move(first);
            if (!t) throw runtime_error("go of nil func value");
            auto h = t.release();
            prepare_goroutine(h, goroutine_kind::joinable, site);
            gs[n++] = &h.promise();
        }
    } catch (...) {
        // Prepared, never started: frame_link is each one's own frame.
        for (std::size_t i = 0; i < n; ++i) gs[i]->frame_link.destroy();
        throw;
    }
    return n;
}

// The join handle of a goroutine that prepare_spawns prepared.
template <typename T>
join_handle<T> join_handle_of(goroutine* g) noexcept {
    return join_handle<T>{std::coroutine_handle<task_promise<T>>::from_promise(static_cast<task_promise<T>&>(*g))};
}

// spawn_all's start: at once where start_goroutines can (the thread enters
// its processor), else one by one, as spawn. When one cannot start
// (goro::no_runtime), the ones not started are freed, their handles
// emptied, and the exception goes on; the ones started run on, their
// handles dropped by the caller's unwinding (detached, as any dropped
// handle).
template <typename Handles>
void start_all(goroutine* const* gs, Handles& handles) {
    const std::size_t n = handles.size();
    if (start_goroutines(gs, n)) [[likely]]
        return;
    for (std::size_t i = 0; i < n; ++i) {
        try {
            start_goroutine(gs[i], "goro::spawn_all");
        } catch (...) {
            for (std::size_t j = i; j < n; ++j) join_all_access::release(handles[j]);
            for (std::size_t j = i; j < n; ++j) gs[j]->frame_link.destroy();
            throw;
        }
    }
}

}  // namespace detail

/// Starts every task of `tasks` as a goroutine (as spawn_all) and waits for
/// them all (as join_all of their handles), with no handles in between:
/// the values in order, or the first exception in order once all finished.
/// None may be empty (goro::runtime_error, "go of nil func value"). The
/// tasks start at the co_await: a join_all(tasks) never awaited runs none.
template <typename T, std::size_t N>
auto join_all(std::array<task<T>, N>&& tasks, std::source_location site = std::source_location::current()) {
    static_assert(std::is_void_v<T> || std::is_default_constructible_v<T>,
                  "goro::join_all over a std::array needs a default-constructible value type "
                  "(use a std::vector of tasks)");
    using result = std::conditional_t<std::is_void_v<T>, void, std::array<std::conditional_t<std::is_void_v<T>, int, T>, N>>;
    return detail::join_all_awaiter<T, std::array<detail::goroutine*, N>, result>(
        N, true, [&](detail::goroutine** gs) { detail::prepare_spawns(tasks.data(), N, gs, site); });
}

/// The same for a vector of tasks; the values come back as a vector.
template <typename T>
auto join_all(std::vector<task<T>>&& tasks, std::source_location site = std::source_location::current()) {
    using result = std::conditional_t<std::is_void_v<T>, void, std::vector<std::conditional_t<std::is_void_v<T>, int, T>>>;
    if (tasks.size() > std::numeric_limits<std::uint32_t>::max())
        throw runtime_error("goro::join_all: too many tasks");
    return detail::join_all_awaiter<T, std::vector<detail::goroutine*>, result>(
        tasks.size(), true, [&](detail::goroutine** gs) {
            detail::prepare_spawns(tasks.data(), tasks.size(), gs, site);
            tasks.clear();
        });
}

/// The first `count` tasks of `tasks` (the fan-out known at run time, the
/// array its bound): starts them and waits for them all, as join_all(tasks)
/// does; the values come back in a std::array of N whose first `count` are
/// theirs, in order (the rest value-initialized). Those `count` must not be
/// empty (goro::runtime_error, "go of nil func value", taking none); a
/// `count` above N throws goro::runtime_error, taking none. The tasks from
/// `count` on are not touched: they stay in `tasks`, unrun (freed with it).
/// See the header comment.
template <typename T, std::size_t N>
auto join_all(std::array<task<T>, N>&& tasks, std::size_t count,
              std::source_location site = std::source_location::current()) {
    static_assert(std::is_void_v<T> || std::is_default_constructible_v<T>,
                  "goro::join_all over a std::array needs a default-constructible value type "
                  "(use a std::vector of tasks)");
    using result = std::conditional_t<std::is_void_v<T>, void, std::array<std::conditional_t<std::is_void_v<T>, int, T>, N>>;
    if (count > N) throw runtime_error("goro::join_all: a count above the array's size");
    return detail::join_all_awaiter<T, detail::bounded_children<N>, result>(
        count, true, [&](detail::goroutine** gs) { detail::prepare_spawns(tasks.data(), count, gs, site); });
}

/// Up to N tasks from an iterator range, the form of TooManyCooks'
/// spawn_many<N>(begin, end): each task is taken (moved from its element)
/// as the range makes it, so a range that makes them (a transform view)
/// needs no array of tasks; then they start and are waited for as
/// join_all(tasks, n) does. The values come back as a std::array of N, the
/// first as many as the range had theirs (the rest value-initialized). An
/// empty task ("go of nil func value") or a range longer than N throws
/// goro::runtime_error; the range's own exceptions propagate. The tasks
/// taken by then are freed, unrun; an iterator pair that knows its length
/// (iterators that subtract: a vector's, a sized view's) and is too long
/// gives up none.
template <std::size_t N, detail::task_iterator It, std::sentinel_for<It> End>
auto join_all(It first, End last, std::source_location site = std::source_location::current()) {
    using T = detail::task_iterator_value_t<It>;
    static_assert(std::is_void_v<T> || std::is_default_constructible_v<T>,
                  "goro::join_all over a range needs a default-constructible value type");
    using result = std::conditional_t<std::is_void_v<T>, void, std::array<std::conditional_t<std::is_void_v<T>, int, T>, N>>;
    return detail::join_all_awaiter<T, detail::bounded_children<N>, result>(0, true, [&](detail::goroutine** gs) {
        return detail::prepare_spawns_from<N>(std::move(first), std::move(last), gs, site);
    });
}

/// The same over a whole range: join_all<N>(std::ranges::begin(r),
/// std::ranges::end(r)); a range that knows its size and is too long (a
/// std::list too, whose iterators cannot subtract) gives up none.
template <std::size_t N, detail::task_range R>
auto join_all(R&& range, std::source_location site = std::source_location::current()) {
    if (detail::size_known_longer_than<N>(range)) throw runtime_error("goro::join_all: a range longer than its bound N");
    return join_all<N>(std::ranges::begin(range), std::ranges::end(range), site);
}

/// Starts every task of `tasks` as a goroutine, in order (none may be
/// empty: goro::runtime_error, "go of nil func value", starting none), and
/// returns their handles in the same order. See the header comment.
template <typename T, std::size_t N>
std::array<join_handle<T>, N> spawn_all(std::array<task<T>, N>&& tasks,
                                        std::source_location site = std::source_location::current()) {
    std::array<detail::goroutine*, N> gs;
    detail::prepare_spawns(tasks.data(), N, gs.data(), site);
    std::array<join_handle<T>, N> handles;
    for (std::size_t i = 0; i < N; ++i) handles[i] = detail::join_handle_of<T>(gs[i]);
    detail::start_all(gs.data(), handles);
    return handles;
}

/// The same for a vector of tasks; the handles come back as a vector.
template <typename T>
std::vector<join_handle<T>> spawn_all(std::vector<task<T>>&& tasks,
                                      std::source_location site = std::source_location::current()) {
    // Both allocations before any task is taken: nothing throws after.
    std::vector<detail::goroutine*> gs(tasks.size());
    std::vector<join_handle<T>> handles;
    handles.reserve(gs.size());
    detail::prepare_spawns(tasks.data(), tasks.size(), gs.data(), site);
    tasks.clear();
    for (detail::goroutine* g : gs) handles.push_back(detail::join_handle_of<T>(g));
    detail::start_all(gs.data(), handles);
    return handles;
}

/// Waits for every goroutine of `handles` (all non-empty; throws
/// goro::runtime_error otherwise, taking none); their values in order, or
/// the first exception in order once all finished. See the header comment.
template <typename T, std::size_t N>
auto join_all(std::array<join_handle<T>, N>&& handles) {
    static_assert(std::is_void_v<T> || std::is_default_constructible_v<T>,
                  "goro::join_all over a std::array needs a default-constructible value type "
                  "(use a std::vector of handles)");
    using result = std::conditional_t<std::is_void_v<T>, void, std::array<std::conditional_t<std::is_void_v<T>, int, T>, N>>;
    return detail::join_all_awaiter<T, std::array<detail::goroutine*, N>, result>(
        N, false, [&](detail::goroutine** gs) { detail::take_handles(handles.data(), N, gs); });
}

/// The same for a vector of handles; the values come back as a vector.
template <typename T>
auto join_all(std::vector<join_handle<T>>&& handles) {
    using result = std::conditional_t<std::is_void_v<T>, void, std::vector<std::conditional_t<std::is_void_v<T>, int, T>>>;
    if (handles.size() > std::numeric_limits<std::uint32_t>::max())
        throw runtime_error("goro::join_all: too many handles");
    return detail::join_all_awaiter<T, std::vector<detail::goroutine*>, result>(
        handles.size(), false, [&](detail::goroutine** gs) {
            detail::take_handles(handles.data(), handles.size(), gs);
            handles.clear();
        });
}

}  // namespace goro
