// Out-of-line helpers of goro::chan and goro::select (the rest is templates
// in runtime/channel.hpp, runtime/select.hpp and runtime/detail/chan_core.hpp).
#include "runtime/channel.hpp"

#include <sched.h>

#include <chrono>

namespace goro::detail {

void chan_lock_backoff() noexcept { sched_yield(); }

namespace {
// xorshift32 state, one per OS thread. Seeded from the clock and the
// variable's own address so that threads differ.
std::uint32_t& rand_state() noexcept {
    thread_local std::uint32_t state = 0;
    return state;
}
}  // namespace

// Not inline (declared in chan_core.hpp): callers never cache the thread_local's address.
std::uint32_t fast_rand() noexcept {
    std::uint32_t& s = rand_state();
    std::uint32_t x = s;
    if (x == 0) {
        const auto t = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
        x = static_cast<std::uint32_t>(t ^ (t >> 32) ^ reinterpret_cast<std::uintptr_t>(&s)) | 1u;
    }
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    s = x;
    return x;
}

}  // namespace goro::detail
