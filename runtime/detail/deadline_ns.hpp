// deadline_ns — std::chrono durations and time points as the monotonic
// nanosecond deadlines that timers use, saturating instead of overflowing.
//
// A user may write sleep(hours::max()), sleep_until(time_point::max()) or a
// time point of any clock and any unit; the plain arithmetic (tp - now, a
// cast to nanoseconds, now + d) is signed overflow for those, which is
// undefined and in practice wraps into the past: a timer that should never
// fire would fire at once. Every such conversion goes through here.
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>
#include <ratio>
#include <type_traits>

#include "timer_heap.hpp"  // monotonic_now_ns

namespace goro::detail {

/// "Never": about 73 years of nanoseconds past the monotonic clock's start.
/// Half of INT64_MAX, so that now + k_never_ns and any difference of two
/// saturated values still fit in 64 bits.
inline constexpr std::int64_t k_never_ns = std::numeric_limits<std::int64_t>::max() / 2;

/// d in nanoseconds, clamped to [-k_never_ns, k_never_ns] (NaN counts as never).
template <typename Rep, typename Period>
constexpr std::int64_t saturating_ns(std::chrono::duration<Rep, Period> d) noexcept {
    using to_ns = std::ratio_divide<Period, std::nano>;  // nanoseconds per tick of d
    const long double approx =
        static_cast<long double>(d.count()) * static_cast<long double>(to_ns::num) / static_cast<long double>(to_ns::den);
    if (!(approx < static_cast<long double>(k_never_ns))) return k_never_ns;
    if (approx <= -static_cast<long double>(k_never_ns)) return -k_never_ns;
    // In range: exact integer arithmetic where a single multiply or divide
    // does it (every standard unit); the estimate otherwise.
    if constexpr (std::is_integral_v<Rep> && (to_ns::num == 1 || to_ns::den == 1))
        return static_cast<std::int64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
    else
        return static_cast<std::int64_t>(approx);
}

/// now + d, saturating at k_never_ns; d <= 0 gives now.
template <typename Rep, typename Period>
std::int64_t deadline_after(std::chrono::duration<Rep, Period> d) noexcept {
    const std::int64_t now = monotonic_now_ns();
    const std::int64_t delta = saturating_ns(d);
    if (delta <= 0) return now;
    return delta >= k_never_ns - now ? k_never_ns : now + delta;
}

/// A time point of any clock as a monotonic deadline, saturating at
/// k_never_ns. steady_clock reads CLOCK_MONOTONIC, monotonic_now_ns's clock,
/// so its time points convert directly; other clocks (system_clock, a
/// user's) by their distance from their own now.
template <typename Clock, typename Duration>
std::int64_t deadline_at(std::chrono::time_point<Clock, Duration> tp) noexcept {
    if constexpr (std::is_same_v<Clock, std::chrono::steady_clock>) {
        return saturating_ns(tp.time_since_epoch());
    } else {
        const std::int64_t since_epoch = saturating_ns(tp.time_since_epoch());
        if (since_epoch == k_never_ns || since_epoch == -k_never_ns) return since_epoch;  // the end of time stays there
        // Both terms are within ±k_never_ns, so their difference fits.
        const std::int64_t ahead = since_epoch - saturating_ns(Clock::now().time_since_epoch());
        const std::int64_t now = monotonic_now_ns();
        if (ahead >= k_never_ns - now) return k_never_ns;
        if (ahead <= -k_never_ns) return -k_never_ns;
        return now + ahead;
    }
}

}  // namespace goro::detail
