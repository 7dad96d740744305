// What the range forms of goro::fj::all and goro::join_all take tasks from:
// an iterator (or a range whose iterators are) whose elements are
// goro::task<T>s that can be moved out, one by one, as the range makes them.
//
// Written without <ranges>' concepts, which every user of goro.hpp would pay
// to compile: <iterator> has std::ranges::begin, end and iter_move.
#pragma once

#include <concepts>
#include <iterator>

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

}  // namespace goro::detail
