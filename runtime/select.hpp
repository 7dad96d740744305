// goro::select — Go's select statement.
//
//     // select {
//     // case v, ok := <-c1: ...
//     // case c2 <- x:       ...
//     // case <-time.After(50 * time.Millisecond): ...
//     // default: ...
//     // }
//     int i = co_await goro::select{
//         c1.recv_case([&](std::optional<int> v) { ... }),   // v == nullopt: c1 is closed
//         c2.send_case(x, [&] { ... }),
//         goro::timeout_case(50ms, [&] { ... }),
//         goro::default_case([&] { ... })};
//
// goro::select is the awaitable itself (a class template, deduced from its
// cases). Write it with braces: a braced list evaluates its elements left to
// right, as Go evaluates the cases in source order; with parentheses the order
// of evaluation of the cases is unspecified in C++ (the result is the same
// otherwise).
//
// co_await select(...) completes exactly one case, calls that case's callback
// in the awaiting task (after it resumed, so the callback may touch the task's
// locals; it must not co_await — do that after the select, switching on the
// returned index) and returns the case's index (0-based, in argument order).
// Callbacks are optional: `c.recv_case()`, `c.send_case(v)`, `default_case()`.
// A recv callback may take the std::optional<T> or nothing.
//
// Semantics (Go spec "Select statements"):
//   - Every case is built, so every channel operand and every send value is
//     evaluated exactly once (in source order with braces) before the select
//     starts. A send value is moved into its case;
//     if another case wins, the value is destroyed with the select (so a
//     moved-in unique_ptr is gone: keep a copy if you need it back).
//   - If one or more cases can proceed, one is chosen uniformly at random.
//     A receive on a closed channel can proceed (value nullopt); a send on a
//     closed channel can proceed too, and throws goro::channel_closed if chosen.
//   - Otherwise `default_case` runs if present (the select never suspends);
//   - otherwise the task parks until one case can proceed (or the
//     timeout_case's duration has passed). A channel closed while the select
//     waits completes a receive case with nullopt, or throws from a send case.
//   - A case on a nil channel (chan<T>::nil()) never proceeds. A select with
//     no cases, or only nil cases and no default/timeout, blocks forever
//     (the deadlock detector reports it when nothing else can run).
//   - At most one timeout_case per select.
//
// Design (after Go's runtime/select.go): the select awaiter holds, in the
// parked task's frame, one waiter record (sudog) per channel case, and one
// select_core word `done` that wakers CAS from 0 to the winning case index+1,
// so that two channels (or a channel and the timer) cannot both complete it.
//   pass 1: lock every channel of the select, in address order (deadlock-free
//           against other selects), then poll the cases in a random order;
//           the first ready one is completed right there (uniform among the
//           ready cases, since the order is a uniform random permutation).
//   pass 2: nothing ready and no default: enqueue a waiter on every channel,
//           arm the timer, unlock in *reverse* order and park. Once the first
//           lock is released the frame is not touched again: the woken task
//           re-locks every channel starting with that one, so it cannot run
//           its pass 3 before we are done (the same argument as Go's selunlock).
//   pass 3: after resuming, lock every channel again and unlink the waiters
//           that did not win (wakers that lose the CAS already dropped
//           theirs); cancel the timer, waiting for a fire callback in flight.
// The timer is added to the heap of the processor the select runs on; only
// that processor fires it, so it cannot fire before await_suspend returns.
#pragma once

#include <chrono>
#include <concepts>
#include <coroutine>
#include <cstdint>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

#include "channel.hpp"
#include "detail/chan_core.hpp"
#include "detail/goroutine.hpp"
#include "detail/deadline_ns.hpp"
#include "detail/timer_heap.hpp"
#include "error.hpp"

namespace goro {

namespace detail {

void add_timer(timer_node* node, const char* api_name);  // scheduler.cpp

enum class case_kind : std::uint8_t { recv, send, timeout, fallback };

template <typename T, typename F>
struct recv_case {
    static constexpr case_kind kind = case_kind::recv;
    chan_state<T>* ch;
    F f;
    std::optional<T> slot;
    chan_waiter w;

    recv_case(chan_state<T>* c, F fn) noexcept(std::is_nothrow_move_constructible_v<F>) : ch(c), f(std::move(fn)) {}
    recv_case(recv_case&&) = default;

    chan_lock* lock() const noexcept { return ch ? &ch->lock : nullptr; }
    // Poll with the lock held; returns true if the case can proceed (done).
    bool poll(goroutine** wake, bool* closed_send) noexcept {
        (void)closed_send;
        return ch->recv_locked(slot, wake) != chan_state<T>::op::block;  // closed counts: nullopt
    }
    void enqueue(goroutine* g, select_core* sel, int index) noexcept {
        w.g = g;
        w.elem = &slot;
        w.sel = sel;
        w.index = index;
        w.success = false;
        ch->recvq.push_back(&w);
    }
    void unlink() noexcept { chan_state<T>::unlink_if_queued(ch->recvq, w); }
    void after_wake() const noexcept {}  // closed while parked: slot stays nullopt
    void invoke() {
        if constexpr (std::is_invocable_v<F&, std::optional<T>>)
            f(std::move(slot));
        else
            f();
    }
};

template <typename T, typename F>
struct send_case {
    static constexpr case_kind kind = case_kind::send;
    chan_state<T>* ch;
    T value;
    F f;
    chan_waiter w;

    send_case(chan_state<T>* c, T&& v, F fn) noexcept(std::is_nothrow_move_constructible_v<F>)
        : ch(c), value(std::move(v)), f(std::move(fn)) {}
    send_case(send_case&&) = default;

    chan_lock* lock() const noexcept { return ch ? &ch->lock : nullptr; }
    bool poll(goroutine** wake, bool* closed_send) noexcept {
        switch (ch->send_locked(value, wake)) {
            case chan_state<T>::op::done:
                return true;
            case chan_state<T>::op::closed:
                *closed_send = true;  // "ready": it panics if chosen
                return true;
            case chan_state<T>::op::block:
                break;
        }
        return false;
    }
    void enqueue(goroutine* g, select_core* sel, int index) noexcept {
        w.g = g;
        w.elem = &value;
        w.sel = sel;
        w.index = index;
        w.success = false;
        ch->sendq.push_back(&w);
    }
    void unlink() noexcept { chan_state<T>::unlink_if_queued(ch->sendq, w); }
    void after_wake() const {
        if (!w.success) throw channel_closed();  // closed while we waited
    }
    void invoke() { f(); }
};

template <typename F>
struct timeout_case_t {
    static constexpr case_kind kind = case_kind::timeout;
    std::int64_t deadline_ns;
    F f;
    void invoke() { f(); }
};

template <typename F>
struct default_case_t {
    static constexpr case_kind kind = case_kind::fallback;
    F f;
    void invoke() { f(); }
};

template <typename C>
concept channel_case = C::kind == case_kind::recv || C::kind == case_kind::send;

/// The select's timer (a timeout_case): fires on the select's processor.
struct select_timer : timer_node {
    select_core* core = nullptr;
    goroutine* g = nullptr;
    int index = 0;
    // Set (release) by fire() as its last access to the frame; the select,
    // after timer_heap::remove() returned false, waits for it (acquire) before
    // its frame may go away.
    std::atomic<bool> fired{false};

    static void on_fire(timer_node* node) noexcept {
        auto* t = static_cast<select_timer*>(node);
        goroutine* g = t->g;
        int expected = 0;
        const bool won =
            t->core->done.compare_exchange_strong(expected, t->index + 1, std::memory_order_acq_rel,
                                                  std::memory_order_relaxed);
        t->fired.store(true, std::memory_order_release);  // last touch of the frame
        if (won) ready_local(g);
    }
};

}  // namespace detail

/// `case <-time.After(d):` — proceeds once `d` has passed since the select was built.
template <typename Rep, typename Period, typename F = detail::no_callback>
[[nodiscard]] detail::timeout_case_t<F> timeout_case(std::chrono::duration<Rep, Period> d, F f = {}) {
    return detail::timeout_case_t<F>{detail::deadline_after(d), std::move(f)};
}

/// `default:` — runs when no other case can proceed; the select then never suspends.
template <typename F = detail::no_callback>
[[nodiscard]] detail::default_case_t<F> default_case(F f = {}) {
    return detail::default_case_t<F>{std::move(f)};
}

/// co_await goro::select{cases...} -> index of the completed case. See the top of this file.
template <typename... Cases>
class [[nodiscard]] select {
    static constexpr std::size_t N = sizeof...(Cases);
    // Array sizes: at least 2 so that GCC's -Warray-bounds does not flag the
    // (never executed) loop bodies of a 0- or 1-case select.
    static constexpr std::size_t k_slots = N < 2 ? 2 : N;
    static constexpr std::size_t k_defaults = ((Cases::kind == detail::case_kind::fallback ? 1 : 0) + ... + 0);
    static constexpr std::size_t k_timeouts = ((Cases::kind == detail::case_kind::timeout ? 1 : 0) + ... + 0);
    static_assert(k_defaults <= 1, "goro::select: at most one default_case");
    static_assert(k_timeouts <= 1, "goro::select: at most one timeout_case");
    static constexpr int k_default_index = [] {
        int i = 0, found = -1;
        ((Cases::kind == detail::case_kind::fallback ? (found = i, ++i) : ++i), ...);
        return found;
    }();
    static constexpr int k_timeout_index = [] {
        int i = 0, found = -1;
        ((Cases::kind == detail::case_kind::timeout ? (found = i, ++i) : ++i), ...);
        return found;
    }();

public:
    explicit select(Cases&&... cases) : m_cases(std::move(cases)...) {}
    select(const select&) = delete;
    select& operator=(const select&) = delete;

    ~select() {
        if (m_parked) {
            // Destroyed while parked (runtime shutdown, threads stopped): leave
            // every queue. A waiter no longer queued may belong to a channel
            // that is already gone, so only queued waiters touch their channel.
            for_each_channel_case([](auto& c) {
                if (c.w.queued) {
                    c.ch->lock.lock();
                    c.unlink();
                    c.ch->lock.unlock();
                }
            });
            if constexpr (k_timeouts > 0) detail::timer_heap::remove(&m_timer);
        }
    }

    bool await_ready() {
        // Live cases (non-nil channels, the timeout) in a random poll order.
        int order[k_slots];
        int n = 0;
        std::int64_t deadline = 0;
        collect(order, n, deadline);
        for (int i = n - 1; i > 0; --i) std::swap(order[i], order[detail::fast_rand() % static_cast<std::uint32_t>(i + 1)]);
        sort_locks();
        lock_all();
        std::int64_t now = -1;
        detail::goroutine* wake = nullptr;
        for (int k = 0; k < n; ++k) {
            const int i = order[k];
            if (i == k_timeout_index) {
                if (now < 0) now = detail::monotonic_now_ns();
                if (deadline <= now) {
                    m_chosen = i;
                    break;
                }
                continue;
            }
            if (poll_case(i, &wake)) {
                m_chosen = i;
                break;
            }
        }
        if (m_chosen >= 0 || k_defaults > 0) {
            unlock_all();
            if (wake) detail::ready(wake);
            if (m_chosen < 0) m_chosen = k_default_index;
            return true;
        }
        m_live = n;
        return false;  // locks held until await_suspend
    }

    void await_suspend(std::coroutine_handle<> h) {
        if (m_live == 0) {
            // select {} or only nil cases: parked forever, published to nobody.
            detail::prepare_park(h, N == 0 ? "select (no cases)" : "select", "goro::select");
            return;
        }
        detail::goroutine* self;
        try {
            self = detail::prepare_park(h, "select", "goro::select");
        } catch (...) {
            unlock_all();
            throw;
        }
        m_parked = true;
        enqueue_all(self, std::make_index_sequence<N>{});
        if constexpr (k_timeouts > 0) {
            m_timer.when = std::get<static_cast<std::size_t>(k_timeout_index)>(m_cases).deadline_ns;
            m_timer.fire = &detail::select_timer::on_fire;
            m_timer.core = &m_core;
            m_timer.g = self;
            m_timer.index = k_timeout_index;
            detail::add_timer(&m_timer, "goro::select");  // fires on this processor only, after we return
        }
        // Reverse order: the last lock released is the first one the woken
        // task takes in pass 3; after it, the frame is not ours to touch.
        for (int k = m_nlocks - 1; k >= 0; --k) m_locks[k]->unlock();
    }

    int await_resume() {
        if (m_parked) {
            // pass 3: dequeue from the channels that did not win.
            lock_all();
            for_each_channel_case([](auto& c) { c.unlink(); });
            unlock_all();
            if constexpr (k_timeouts > 0) {
                if (!detail::timer_heap::remove(&m_timer)) {
                    // Fired or firing: wait for the fire callback to be done with our frame.
                    while (!m_timer.fired.load(std::memory_order_acquire)) detail::cpu_relax();
                }
            }
            m_parked = false;
            // acquire: pairs with the winner's CAS (the value itself is ordered by ready()).
            m_chosen = m_core.done.load(std::memory_order_acquire) - 1;
            with_case(m_chosen, [](auto& c) {
                if constexpr (detail::channel_case<std::remove_cvref_t<decltype(c)>>) c.after_wake();
            });
        } else if (m_closed_send) {
            throw channel_closed();
        }
        with_case(m_chosen, [](auto& c) { c.invoke(); });
        return m_chosen;
    }

private:
    template <typename Fn>
    void with_case(int i, Fn&& fn) {
        with_case_impl(i, fn, std::make_index_sequence<N>{});
    }
    template <typename Fn, std::size_t... I>
    void with_case_impl(int i, Fn& fn, std::index_sequence<I...>) {
        ((static_cast<int>(I) == i ? (fn(std::get<I>(m_cases)), 0) : 0), ...);
    }
    template <typename Fn>
    void for_each_channel_case(Fn&& fn) {
        std::apply(
            [&](auto&... c) {
                (
                    [&](auto& one) {
                        if constexpr (detail::channel_case<std::remove_cvref_t<decltype(one)>>)
                            if (one.ch) fn(one);
                    }(c),
                    ...);
            },
            m_cases);
    }

    void collect(int* order, int& n, std::int64_t& deadline) {
        int i = 0;
        std::apply(
            [&](auto&... c) {
                (
                    [&](auto& one) {
                        using C = std::remove_cvref_t<decltype(one)>;
                        if constexpr (detail::channel_case<C>) {
                            if (one.ch) {
                                order[n++] = i;
                                m_locks[m_nlocks++] = &one.ch->lock;
                            }
                        } else if constexpr (C::kind == detail::case_kind::timeout) {
                            order[n++] = i;
                            deadline = one.deadline_ns;
                        }
                        ++i;
                    }(c),
                    ...);
            },
            m_cases);
    }

    // Lock order: by address, duplicates removed (Go's sellock).
    void sort_locks() noexcept {
        for (int a = 1; a < m_nlocks; ++a) {
            detail::chan_lock* x = m_locks[a];
            int b = a - 1;
            while (b >= 0 && std::less<detail::chan_lock*>{}(x, m_locks[b])) {
                m_locks[b + 1] = m_locks[b];
                --b;
            }
            m_locks[b + 1] = x;
        }
        int u = 0;
        for (int a = 0; a < m_nlocks; ++a)
            if (u == 0 || m_locks[u - 1] != m_locks[a]) m_locks[u++] = m_locks[a];
        m_nlocks = u;
    }
    void lock_all() noexcept {
        for (int k = 0; k < m_nlocks; ++k) m_locks[k]->lock();
    }
    void unlock_all() noexcept {
        for (int k = m_nlocks - 1; k >= 0; --k) m_locks[k]->unlock();
    }

    bool poll_case(int i, detail::goroutine** wake) {
        bool ready_now = false;
        with_case(i, [&](auto& c) {
            if constexpr (detail::channel_case<std::remove_cvref_t<decltype(c)>>) ready_now = c.poll(wake, &m_closed_send);
        });
        return ready_now;
    }

    template <typename C>
    void enqueue_one(C& c, detail::goroutine* self, int index) noexcept {
        if constexpr (detail::channel_case<C>)
            if (c.ch) c.enqueue(self, &m_core, index);
    }

    std::tuple<Cases...> m_cases;
    detail::select_core m_core;
    [[no_unique_address]] std::conditional_t<(k_timeouts > 0), detail::select_timer, std::tuple<>> m_timer{};
    detail::chan_lock* m_locks[k_slots] = {};
    int m_nlocks = 0;
    int m_live = 0;
    int m_chosen = -1;
    bool m_closed_send = false;  // the chosen (polled) case is a send on a closed channel
    bool m_parked = false;       // waiters may be queued (from await_suspend to pass 3)

    template <std::size_t... I>
    void enqueue_all(detail::goroutine* self, std::index_sequence<I...>) noexcept {
        (void)self;  // unused for select{}
        (enqueue_one(std::get<I>(m_cases), self, static_cast<int>(I)), ...);
    }
};

template <typename... Cases>
select(Cases&&...) -> select<std::remove_cvref_t<Cases>...>;

}  // namespace goro
