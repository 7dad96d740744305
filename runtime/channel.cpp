// Out-of-line helpers of goro::chan and goro::select (the rest is templates
// in runtime/channel.hpp, runtime/select.hpp and runtime/detail/chan_core.hpp).
#include "runtime/channel.hpp"

#include <sched.h>

#include <algorithm>
#include <chrono>

namespace goro::detail {

void chan_lock_backoff() noexcept { sched_yield(); }

// The contended path. Backs off exponentially without touching the lock's
// cache line, and starts each wait where this thread's last contended wait
// ended (its "patience"): under sustained contention the other core's polls
// stay k_max_delay apart, so the holder's core runs many operations in a row
// on a line that stays in its cache, instead of the line moving between the
// cores for every message (chan_throughput, 4 senders and 4 receivers, 2
// processors, Intel Xeon VM: 9.0 -> 38.9 Mmsg/s; a fresh backoff from 1 on
// every wait polled eight times in its first 4 us and let the line move
// nearly every operation; see benchmarks/RESULTS.md, 2026-11-29 07:00).
// The patience halves each time this thread enters the slow path and finds
// the lock free without waiting. The price: after contention, this thread's
// first poll of a held lock can come up to k_max_delay PAUSEs (~2 us) late.
void chan_lock::lock_slow() noexcept {
    // Per OS thread, not per lock: contention is a property of what the
    // thread is running now (its processor's tasks), and the fast path must
    // stay one load and one exchange. Always in [1, k_max_delay].
    thread_local unsigned t_patience = 1;
    unsigned delay = t_patience;
    unsigned paused = 0;
    bool waited = false;
    for (;;) {
        // relaxed: only a hint; the exchange below re-checks with acquire.
        while (m_locked.load(std::memory_order_relaxed)) {
            waited = true;
            if (paused < k_spin_budget) {
                for (unsigned i = 0; i < delay; ++i) cpu_relax();
                paused += delay;
                if (delay < k_max_delay) delay *= 2;
            } else {
                chan_lock_backoff();  // the holder may have been pre-empted
            }
        }
        // acquire: pairs with the release in unlock(), as in lock().
        if (!m_locked.exchange(true, std::memory_order_acquire)) {
            t_patience = waited ? delay : std::max(1u, t_patience / 2);
            return;
        }
    }
}

namespace {
// xorshift32 state, one per OS thread. Seeded from the clock and the
// variable's own address so that threads differ.
std::uint32_t& rand_state() noexcept {
    // initial-exec: as the frame pool's (frame_allocator.cpp), no
    // __tls_get_addr call planned for in this -fPIC library.
    [[gnu::tls_model("initial-exec")]] thread_local std::uint32_t state = 0;
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
