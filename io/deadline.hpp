// goro::net deadlines — the time values accepted by set_deadline and friends.
//
// Deadlines are points on std::chrono::steady_clock (CLOCK_MONOTONIC, the
// clock io_uring's timeouts use), so a wall-clock jump never fires or delays
// one. A default-constructed time_point, goro::net::no_deadline, means "no
// deadline", as Go's zero time.Time does. A system_clock time is converted
// to steady_clock at the moment of the call.
//
//     conn.set_read_deadline(std::chrono::steady_clock::now() + 5s);
//     conn.set_read_deadline(goro::net::no_deadline);   // block indefinitely again
#pragma once

#include <chrono>
#include <cstdint>

#include "../runtime/detail/deadline_ns.hpp"

namespace goro::net {

using deadline_clock = std::chrono::steady_clock;
using deadline_point = deadline_clock::time_point;

/// "No deadline" (Go's zero time.Time).
inline constexpr deadline_point no_deadline{};

namespace detail {

/// Monotonic nanoseconds for the I/O layer: 0 for no_deadline, at least 1
/// otherwise (a time before the clock's epoch is simply "in the past").
inline std::int64_t deadline_ns(deadline_point t) noexcept {
    if (t == no_deadline) return 0;
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
    return ns < 1 ? 1 : static_cast<std::int64_t>(ns);
}

inline std::int64_t deadline_ns(std::chrono::system_clock::time_point t) noexcept {
    if (t == std::chrono::system_clock::time_point{}) return 0;
    // Saturating, by its distance from the wall clock's now (deadline_ns.hpp).
    const std::int64_t ns = goro::detail::deadline_at(t);
    return ns < 1 ? 1 : ns;
}

/// now + timeout, saturating: a timeout <= 0 is already past; a huge one is "never".
inline std::int64_t timeout_ns(std::chrono::nanoseconds timeout) noexcept {
    if (timeout.count() <= 0) return 1;
    return goro::detail::deadline_after(timeout);
}

}  // namespace detail
}  // namespace goro::net
