// goro::after, goro::timer, goro::ticker, goro::after_func — Go's time package
// timers, with Go >= 1.23 semantics (synchronous timer channels: no stale
// values after stop() or reset()).
//
//     auto c = goro::after(50ms);                // time.After: a chan that receives once
//     co_await c.recv();
//
//     goro::timer t(1s);                         // time.NewTimer
//     co_await goro::select(t.c().recv_case(), work.recv_case());
//     bool was_pending = t.stop();               // Stop
//     t.reset(2s);                               // Reset
//
//     goro::ticker tk(10ms);                     // time.NewTicker (drops ticks for slow receivers)
//     while (...) co_await tk.c().recv();
//     tk.stop();
//
//     goro::timer h = goro::after_func(10ms, [] { ... });   // time.AfterFunc: f runs as a new task
//     h.stop();
//
// Timers, tickers and after_func must be created (and reset) inside a goro
// task: they are queued on the timer heap of the processor the task runs on,
// which fires them on its scheduling ticks (so a task busy in a yield loop
// does not delay them) or by waking from park at the earliest deadline; if
// it leaves one due for long (a goroutine that computes), a processor on
// its way to park fires it (runtime/stealing.cpp, "Timers of other
// processors").
// stop() may be called from anywhere.
//
// Channel values are std::chrono::steady_clock time points: the time the timer
// fired (not when it was received). The channels have one slot inside, so a
// firing never blocks the processor, but they look unbuffered from outside as
// Go 1.23's timer channels do: len() and cap() report 0 (chan<T>'s
// timer-channel flag). What Go 1.23 guarantees holds: once stop() or reset()
// returns, no value from the old schedule can be received; stop()/reset()
// return true iff the old schedule had not
// delivered a value to a receiver yet (a buffered, unreceived value is
// drained and counts as pending).
//
// ---- Design ----
//
// A detail::timer_state (heap-allocated, reference-counted) is the
// timer_node in the heap plus the channel, the period and the callback. Its
// small lock (`lock`) orders firing against stop/reset:
//   - fire (on the owning processor or, the node being stealable, another
//     one; outside the heap lock) takes the lock and
//     delivers only if the timer is still `armed` and its node has not been
//     queued again (a reset re-queues the same node: a fire still in flight
//     for the old schedule sees node->heap != nullptr and drops itself);
//   - stop/reset take the lock, remove the node from its heap, clear `armed`
//     and drain the channel, so any fire that runs later drops itself.
// References: one per user handle (timer/ticker object, or none for after())
// and one per queued node, released when that node fires (or is removed).
// So a fire in flight keeps the state alive even if the user dropped it.
//
// Shutdown. A runtime clears its timer heaps without firing them, so the
// reference of a node still queued then would never be released, and with
// it the state, its channel and after_func's f (with all it captured). A
// global registry lists every live state, and `heap_ref` says whether a
// queued node's reference is outstanding. goro::run brackets every runtime
// with runtime_lifetime_begin/end (a global count under a mutex, in
// time.cpp): when the last running runtime has ended, no fire can be in
// flight anywhere (a fire runs on a processor, between a heap pop and the
// state's lock, so it cannot be told apart from a cleared node while
// runtimes run), and the mutex keeps new runtimes from starting meanwhile;
// then every outstanding `heap_ref` belongs to a cleared node: it is dropped
// (and tick()'s never-released handle reference with it). With runtimes
// overlapping in time, reclamation waits until none is running.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <source_location>
#include <type_traits>
#include <utility>

#include "channel.hpp"
#include "detail/chan_core.hpp"
#include "detail/deadline_ns.hpp"
#include "detail/timer_heap.hpp"
#include "error.hpp"
#include "go.hpp"
#include "task.hpp"

namespace goro {

using time_point = std::chrono::steady_clock::time_point;

namespace detail {

struct timer_state : timer_node {
    // One per handle and per queued node. relaxed increments (made by an
    // existing owner); acq_rel decrement so the last owner sees all writes.
    std::atomic<std::uint32_t> refs{1};
    chan_lock lock;
    // Guarded by `lock`: the current schedule has neither delivered nor been stopped.
    bool armed = false;
    // Guarded by `lock`: the node is queued (or was, until a shutdown cleared
    // its heap) and that queueing's reference has not been released: set by
    // arm_locked; cleared by a successful remove, or by the fire of that
    // queueing (a fire for an older schedule, the node having been re-queued
    // by reset, leaves it set).
    bool heap_ref = false;
    // tick(): the handle reference nobody will ever release (Go: "it leaks");
    // dropped by shutdown reclamation. Guarded by `lock`.
    bool phantom_handle = false;
    std::int64_t period = 0;                // ticker period in ns; 0 = one-shot. Guarded by `lock`.
    chan<time_point> ch = chan<time_point>::nil();  // set at creation; nil for after_func
    std::function<task<void>()> func;       // after_func's action; set at creation
    std::source_location func_site{};       // where after_func was called: the action's spawn site
    // Registry links (guarded by the registry's mutex, in time.cpp).
    timer_state* reg_prev = nullptr;
    timer_state* reg_next = nullptr;

    timer_state() noexcept = default;
    timer_state(const timer_state&) = delete;
    timer_state& operator=(const timer_state&) = delete;

    static timer_state* create(chan<time_point> c, std::int64_t period_ns, std::function<task<void>()> f);
    void add_ref() noexcept { refs.fetch_add(1, std::memory_order_relaxed); }
    void release() noexcept;

    /// Arms at `deadline_ns` (lock held). Must run on a processor.
    void arm_locked(std::int64_t deadline_ns, const char* api);
    /// Disarms (lock held): removes the node and drains the channel.
    /// Returns whether the old schedule was still pending.
    bool disarm_locked() noexcept;
    /// disarm_locked() before a re-arm (reset): also waits (dropping the lock
    /// meanwhile) for a fire in flight, so that rewriting `when` cannot race
    /// with that firing processor's read of it. Lock held on entry and exit.
    bool disarm_for_rearm_locked() noexcept;

    static void on_fire(timer_node* node) noexcept;
};

/// Bracket one runtime's life (goro::run, run.hpp): the end of the last
/// running runtime frees the states of timers still pending at its shutdown
/// (design notes above).
void runtime_lifetime_begin() noexcept;
void runtime_lifetime_end() noexcept;

/// Test hook: how many timer states are alive (timers, tickers, after,
/// after_func, context deadlines), a snapshot.
std::size_t debug_live_timer_states() noexcept;

}  // namespace detail

class timer;
// Declared here, with its default argument, for timer's friend declaration
// (defined below).
template <typename Rep, typename Period, typename F>
[[nodiscard]] timer after_func(std::chrono::duration<Rep, Period> d, F f,
                               std::source_location site = std::source_location::current());

/// time.NewTimer / time.AfterFunc's *Timer. Move-only; destroying it stops it.
class timer {
public:
    /// NewTimer(d): c() receives the firing time once d has passed.
    template <typename Rep, typename Period>
    explicit timer(std::chrono::duration<Rep, Period> d)
        : timer(detail::deadline_after(d), chan<time_point>::make_timer_channel_(), {}) {}

    timer(timer&& o) noexcept : m_state(std::exchange(o.m_state, nullptr)) {}
    timer& operator=(timer&& o) noexcept {
        if (this != &o) {
            destroy();
            m_state = std::exchange(o.m_state, nullptr);
        }
        return *this;
    }
    timer(const timer&) = delete;
    timer& operator=(const timer&) = delete;
    ~timer() { destroy(); }

    /// The timer's channel (t.C). Nil for an after_func timer.
    const chan<time_point>& c() const noexcept { return m_state->ch; }
    const chan<time_point>& channel() const noexcept { return m_state->ch; }

    /// Stop: true if the timer was pending (it had not delivered a value to a
    /// receiver); afterwards nothing from this schedule can be received.
    bool stop() noexcept;

    /// Reset(d): stop(), then re-arm to fire after d. Returns what stop() would.
    /// Must be called from a goro task.
    template <typename Rep, typename Period>
    bool reset(std::chrono::duration<Rep, Period> d) {
        return reset_at(detail::deadline_after(d));
    }

private:
    template <typename Rep, typename Period, typename F>
    friend timer after_func(std::chrono::duration<Rep, Period> d, F f, std::source_location site);

    timer(std::int64_t deadline_ns, chan<time_point> c, std::function<task<void>()> f,
          std::source_location site = {});
    bool reset_at(std::int64_t deadline_ns);
    void destroy() noexcept;

    detail::timer_state* m_state = nullptr;
};

/// time.NewTicker: c() receives a tick every period; a slow receiver misses
/// ticks (at most one is pending; it carries the earliest missed time).
class ticker {
public:
    /// Throws goro::runtime_error("non-positive interval for NewTicker") for d <= 0.
    template <typename Rep, typename Period>
    explicit ticker(std::chrono::duration<Rep, Period> d) : ticker(detail::saturating_ns(d)) {}

    ticker(ticker&& o) noexcept : m_state(std::exchange(o.m_state, nullptr)) {}
    ticker& operator=(ticker&& o) noexcept {
        if (this != &o) {
            destroy();
            m_state = std::exchange(o.m_state, nullptr);
        }
        return *this;
    }
    ticker(const ticker&) = delete;
    ticker& operator=(const ticker&) = delete;
    ~ticker() { destroy(); }

    const chan<time_point>& c() const noexcept { return m_state->ch; }
    const chan<time_point>& channel() const noexcept { return m_state->ch; }

    /// Stop: no more ticks (a pending unreceived tick is discarded).
    void stop() noexcept;

    /// Reset(d): stops and restarts with period d, next tick after d.
    /// Throws goro::runtime_error("non-positive interval for Ticker.Reset") for d <= 0.
    template <typename Rep, typename Period>
    void reset(std::chrono::duration<Rep, Period> d) {
        reset_ns(detail::saturating_ns(d));
    }

private:
    explicit ticker(std::int64_t period_ns);
    void reset_ns(std::int64_t period_ns);
    void destroy() noexcept;

    detail::timer_state* m_state = nullptr;
};

/// time.After(d): a channel that receives the firing time once, after d.
/// Must be called from a goro task.
chan<time_point> after_ns(std::int64_t deadline_ns);

template <typename Rep, typename Period>
[[nodiscard]] chan<time_point> after(std::chrono::duration<Rep, Period> d) {
    return after_ns(detail::deadline_after(d));
}

/// time.Tick(d): a ticker's channel that is never stopped; nil for d <= 0.
chan<time_point> tick_ns(std::int64_t period_ns);

template <typename Rep, typename Period>
[[nodiscard]] chan<time_point> tick(std::chrono::duration<Rep, Period> d) {
    return tick_ns(detail::saturating_ns(d));
}

/// time.AfterFunc(d, f): after d, runs f as a new goroutine (f returns void or
/// a goro::task<>) spawned at `site`: dumps, traces and panics name the line
/// that called after_func. The returned timer has a nil channel; stop()
/// prevents the call if it has not started. Must be called from a goro task.
template <typename Rep, typename Period, typename F>
[[nodiscard]] timer after_func(std::chrono::duration<Rep, Period> d, F f, std::source_location site) {
    std::function<task<void>()> fn;
    if constexpr (std::is_void_v<std::invoke_result_t<F&>>)
        fn = [f = std::move(f)]() mutable -> task<void> {
            f();
            co_return;
        };
    else
        fn = [f = std::move(f)]() mutable -> task<void> { co_await f(); };
    return timer(detail::deadline_after(d), chan<time_point>::nil(), std::move(fn), site);
}

}  // namespace goro
