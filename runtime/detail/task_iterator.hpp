// What the range forms of goro::fj::all and goro::join_all take tasks from:
// an iterator (or a range whose iterators are) whose elements are
// goro::task<T>s that can be moved out, one by one, as the range makes them.
//
// Written without <ranges>' concepts, which every user of goro.hpp would pay
// to compile: <iterator> has std::ranges::begin, end and iter_move.
#pragma once

#include <concepts>
#include <cstddef>
#include <iterator>
#include <utility>

#include "owned_call.hpp"

namespace goro::detail {

/// An iterator whose elements are tasks that can be moved out (not a const
/// range's: a const task cannot give up its frame).
template <typename It>
concept task_iterator = std::input_iterator<It> && task_traits<std::iter_value_t<It>>::is_task &&
                        std::constructible_from<std::iter_value_t<It>, std::iter_rvalue_reference_t<It>>;

/// A range of such tasks, iterated as an lvalue (a container, or a view
/// that makes the tasks).
template <typename R>
concept task_range = requires(R& r) {
    { std::ranges::begin(r) } -> task_iterator;
    { std::ranges::end(r) } -> std::sentinel_for<decltype(std::ranges::begin(r))>;
};

/// The value type of the tasks an iterator of tasks gives.
template <typename It>
using task_iterator_value_t = typename task_traits<std::iter_value_t<It>>::value_type;

/// Whether [first, last) is known to hold more than N tasks before any is
/// taken: its iterators subtract (a vector's, a sized view's). False when
/// that is not known; taking then stops at the (N + 1)th.
template <std::size_t N, typename It, typename End>
constexpr bool known_longer_than(const It& first, const End& last) {
    if constexpr (std::sized_sentinel_for<End, It>)
        return last - first > static_cast<std::iter_difference_t<It>>(N);
    else
        return false;
}

/// The same for a whole range whose size is known although its iterators
/// do not subtract (a std::list); for the others, known_longer_than over
/// its iterators answers, and this is false (no second measure).
template <std::size_t N, typename R>
constexpr bool size_known_longer_than(R& range) {
    using It = decltype(std::ranges::begin(range));
    using End = decltype(std::ranges::end(range));
    if constexpr (!std::sized_sentinel_for<End, It> && requires { std::ranges::size(range); })
        return std::cmp_greater(std::ranges::size(range), N);
    else
        return false;
}

}  // namespace goro::detail
