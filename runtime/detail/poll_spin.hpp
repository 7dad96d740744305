// poll_spin — how long a processor that ran out of work while I/O is in
// flight keeps looking (its netpoll, its deque, the global queue, the other
// deques) before it sleeps in its netpoll. Used by find_runnable
// (scheduler.cpp); holder-only state, one per processor.
//
// Why: when the two ends of a connection in strict request/response run on
// two processors, each end's answer comes a few microseconds after its
// processor ran out of work. Parking at once meant a sleep and a cross-CPU
// wake-up per message, each ~25 us on a VM: io_socket_st with one
// connection took 1.1 s with the ends on two processors against 0.25 s
// with both on one; with the spin, 0.20-0.26 s whichever way they land.
// Go's idle threads likewise look for work a while before they block.
//
// The window adapts, so that a server whose requests come further apart
// than the window stops paying for it:
//   - a spin that ends with nothing found halves the window, to none once
//     it falls below k_min_ns;
//   - a spin during which work came (the call returned a goroutine before
//     the window ran out) restores the full window;
//   - with no window, every k_probe_every-th park probes with the full
//     window, which sets it again only if the probe finds work.
// A probe or a spin costs at most k_max_ns of CPU; a server whose spins
// never find work pays k_max_ns every k_probe_every parks.
#pragma once

#include <cstdint>

namespace goro::detail {

class poll_spin {
public:
    static constexpr std::int64_t k_max_ns = 20'000;
    static constexpr std::int64_t k_min_ns = 1'000;
    static constexpr unsigned k_probe_every = 16;

    /// A find_runnable call reached the park, with I/O in flight, for the
    /// first time at `now`: starts this call's spin (or none).
    void begin(std::int64_t now) noexcept {
        // Still set: the previous call's spin ended by finding work.
        if (m_until != 0) m_window_ns = k_max_ns;
        std::int64_t window = m_window_ns;
        if (window == 0 && ++m_skipped == k_probe_every) {
            m_skipped = 0;
            window = k_max_ns;
        }
        m_until = window != 0 ? now + window : 0;
    }

    /// Whether to look once more at `now` instead of parking. False once
    /// the window has run out (which shrinks it) or when none was started.
    bool keep_going(std::int64_t now) noexcept {
        if (m_until == 0) return false;
        if (now < m_until) return true;
        m_until = 0;
        m_window_ns /= 2;
        if (m_window_ns < k_min_ns) m_window_ns = 0;
        return false;
    }

    /// The window the next spin gets (0: none, or a probe's).
    std::int64_t window_ns() const noexcept { return m_window_ns; }

private:
    std::int64_t m_window_ns = k_max_ns;
    std::int64_t m_until = 0;  // when the running spin ends; 0: none running
    unsigned m_skipped = 0;    // parks without a window since the last probe
};

}  // namespace goro::detail
