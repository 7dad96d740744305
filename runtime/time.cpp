// goro timers: time.After, NewTimer, NewTicker, AfterFunc. Design notes at
// the top of runtime/time.hpp.
#include "time.hpp"

#include <mutex>
#include <vector>

#include "sleep.hpp"  // detail::add_timer

namespace goro {

namespace detail {

namespace {

// Every live timer_state, so that states whose nodes were still queued when a
// runtime shut down (heaps are cleared without firing) stay reachable.
struct timer_registry {
    std::mutex lock;
    timer_state* head = nullptr;  // guarded by lock
};

timer_registry& timers_registry() noexcept {
    static timer_registry* r = new timer_registry;  // never destroyed: states may outlive static destruction
    return *r;
}

// How many runtimes are running (between runtime_lifetime_begin and _end).
// Held across the shutdown reclamation, so no runtime starts during it.
struct runtime_census {
    std::mutex lock;
    unsigned running = 0;  // guarded by lock
};

runtime_census& census() noexcept {
    static runtime_census* c = new runtime_census;  // never destroyed, like the registry
    return *c;
}

time_point to_time_point(std::int64_t ns) noexcept {
    // steady_clock is CLOCK_MONOTONIC on Linux, the clock of monotonic_now_ns().
    return time_point(std::chrono::duration_cast<time_point::duration>(std::chrono::nanoseconds(ns)));
}

}  // namespace

timer_state* timer_state::create(chan<time_point> c, std::int64_t period_ns, std::function<task<void>()> f) {
    auto* t = new timer_state;
    t->ch = std::move(c);
    t->period = period_ns;
    t->func = std::move(f);
    t->fire = &timer_state::on_fire;
    // Any processor may fire it: on_fire works under t->lock, finds a stale
    // fire itself, and stop/reset wait for a fire in flight
    // (disarm_for_rearm_locked).
    t->stealable = true;
    timer_registry& r = timers_registry();
    std::lock_guard guard(r.lock);
    t->reg_next = r.head;
    if (r.head) r.head->reg_prev = t;
    r.head = t;
    return t;
}

void timer_state::release() noexcept {
    if (refs.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    {
        timer_registry& r = timers_registry();
        std::lock_guard guard(r.lock);
        if (reg_prev)
            reg_prev->reg_next = reg_next;
        else
            r.head = reg_next;
        if (reg_next) reg_next->reg_prev = reg_prev;
    }
    delete this;
}

void timer_state::arm_locked(std::int64_t deadline_ns, const char* api) {
    when = deadline_ns;
    add_ref();  // the heap's reference, released by on_fire or a successful remove
    try {
        add_timer(this, api);
    } catch (...) {
        refs.fetch_sub(1, std::memory_order_relaxed);  // the handle still holds one
        throw;
    }
    heap_ref = true;
    armed = true;
}

bool timer_state::disarm_locked() noexcept {
    bool pending = armed;
    armed = false;
    if (timer_heap::remove(this)) {
        pending = true;
        heap_ref = false;
        refs.fetch_sub(1, std::memory_order_relaxed);  // the heap's reference; the caller holds another
    }
    // A value delivered to the buffer but not received belongs to the old
    // schedule: drain it (Go 1.23: no stale values), and it counted as pending.
    if (ch && ch.try_recv()) pending = true;
    return pending;
}

bool timer_state::disarm_for_rearm_locked() noexcept {
    bool pending = disarm_locked();
    // A fire in flight: a processor popped the node (reading `when` under its
    // heap's lock) and will call on_fire, but remove() saw the node gone
    // through a relaxed load of `heap`, which does not order that read before
    // our write of `when` in arm_locked (TSan reports it; timer stealing makes
    // the popper another thread). Let that fire run first: it takes `lock`,
    // finds itself stale (armed is false) and clears heap_ref; its unlock and
    // our re-lock order its pop, and so its read, before our write. It runs
    // soon (it is in the batch its processor is firing) and needs no lock we
    // hold while we wait. Disarm again each time: a concurrent reset may have
    // re-armed the timer while we did not hold the lock.
    while (heap_ref && heap.load(std::memory_order_relaxed) == nullptr) {
        lock.unlock();
        cpu_relax();
        lock.lock();
        pending = disarm_locked() || pending;
    }
    return pending;
}

void timer_state::on_fire(timer_node* node) noexcept {
    auto* t = static_cast<timer_state*>(node);
    const std::int64_t now = monotonic_now_ns();
    t->lock.lock();
    // Not queued again (by a reset): this fire consumes the outstanding
    // queueing reference (released below). relaxed: `heap` is written under
    // the heap's lock by add/remove, and a re-queue happens under t->lock.
    const bool requeued = t->heap.load(std::memory_order_relaxed) != nullptr;
    if (!requeued) t->heap_ref = false;
    // Stale: stopped since it was queued (armed == false), or re-queued by a
    // reset (the node is in a heap again: that later schedule will fire).
    const bool current = t->armed && !requeued;
    if (current) {
        if (t->period > 0) {
            // Ticker: deliver if there is room (drop ticks for slow receivers;
            // the pending one keeps the earliest time) and schedule the next
            // tick on the period grid after now.
            (void)t->ch.try_send(to_time_point(now));
            const std::int64_t missed = (now - t->when) / t->period;
            t->when += t->period * (missed + 1);
            t->add_ref();
            add_timer(t, "goro::ticker");  // on this processor: fire runs on one
            t->heap_ref = true;
        } else {
            t->armed = false;
            if (t->ch) {
                (void)t->ch.try_send(to_time_point(now));  // empty: stop/reset drained it
            } else if (t->func) {
                // AfterFunc: a new goroutine owning a copy of the action.
                goro::go([](std::function<task<void>()> fn) -> task<void> { co_await fn(); }(t->func), t->func_site);
            }
        }
    }
    t->lock.unlock();
    t->release();  // the reference of the node that just fired
}

void runtime_lifetime_begin() noexcept {
    runtime_census& c = census();
    std::lock_guard guard(c.lock);
    ++c.running;
}

void runtime_lifetime_end() noexcept {
    runtime_census& c = census();
    std::lock_guard guard(c.lock);  // held throughout: no runtime starts while we reclaim
    if (--c.running != 0) return;   // another runtime runs: its fires may be in flight
    // No runtime is running, so no fire is in flight: every outstanding
    // heap_ref belongs to a node that a shutdown dropped. Pin the states first
    // (a state whose count already reached 0 is being freed: skip it; its
    // release() needs the registry lock to unlink, so it is still valid here).
    std::vector<timer_state*> pinned;
    {
        timer_registry& r = timers_registry();
        std::lock_guard reg(r.lock);
        for (timer_state* t = r.head; t; t = t->reg_next) {
            std::uint32_t n = t->refs.load(std::memory_order_relaxed);
            // relaxed: the registry lock keeps t valid; the pin only has to be atomic.
            while (n != 0 && !t->refs.compare_exchange_weak(n, n + 1, std::memory_order_relaxed)) {
            }
            if (n != 0) pinned.push_back(t);
        }
    }
    for (timer_state* t : pinned) {
        unsigned drop = 1;  // our pin
        t->lock.lock();
        if (t->heap_ref) {
            t->heap_ref = false;
            t->armed = false;  // the schedule died with its heap: stop() reports not pending
            ++drop;
        }
        if (t->phantom_handle) {
            t->phantom_handle = false;
            ++drop;
        }
        t->lock.unlock();
        while (drop--) t->release();
    }
}

std::size_t debug_live_timer_states() noexcept {
    timer_registry& r = timers_registry();
    std::lock_guard guard(r.lock);
    std::size_t n = 0;
    for (timer_state* t = r.head; t; t = t->reg_next) ++n;
    return n;
}

}  // namespace detail

// ---- timer ----

timer::timer(std::int64_t deadline_ns, chan<time_point> c, std::function<task<void>()> f, std::source_location site)
    : m_state(detail::timer_state::create(std::move(c), 0, std::move(f))) {
    m_state->func_site = site;  // before arming: the fire reads it
    m_state->lock.lock();
    try {
        m_state->arm_locked(deadline_ns, "goro::timer");
    } catch (...) {
        m_state->lock.unlock();
        std::exchange(m_state, nullptr)->release();
        throw;
    }
    m_state->lock.unlock();
}

bool timer::stop() noexcept {
    if (!m_state) return false;
    const detail::foreign_entry entry;  // may be called from any thread
    m_state->lock.lock();
    const bool pending = m_state->disarm_locked();
    m_state->lock.unlock();
    return pending;
}

bool timer::reset_at(std::int64_t deadline_ns) {
    m_state->lock.lock();
    const bool pending = m_state->disarm_for_rearm_locked();
    try {
        m_state->arm_locked(deadline_ns, "goro::timer::reset");
    } catch (...) {
        m_state->lock.unlock();
        throw;
    }
    m_state->lock.unlock();
    return pending;
}

void timer::destroy() noexcept {
    if (!m_state) return;
    stop();
    std::exchange(m_state, nullptr)->release();
}

// ---- ticker ----

ticker::ticker(std::int64_t period_ns) {
    if (period_ns <= 0) throw runtime_error("non-positive interval for NewTicker");
    m_state = detail::timer_state::create(chan<time_point>::make_timer_channel_(), period_ns, {});
    m_state->lock.lock();
    try {
        m_state->arm_locked(detail::monotonic_now_ns() + period_ns, "goro::ticker");
    } catch (...) {
        m_state->lock.unlock();
        std::exchange(m_state, nullptr)->release();
        throw;
    }
    m_state->lock.unlock();
}

void ticker::stop() noexcept {
    if (!m_state) return;
    const detail::foreign_entry entry;  // may be called from any thread
    m_state->lock.lock();
    (void)m_state->disarm_locked();
    m_state->lock.unlock();
}

void ticker::reset_ns(std::int64_t period_ns) {
    if (period_ns <= 0) throw runtime_error("non-positive interval for Ticker.Reset");
    m_state->lock.lock();
    (void)m_state->disarm_for_rearm_locked();
    m_state->period = period_ns;
    try {
        m_state->arm_locked(detail::monotonic_now_ns() + period_ns, "goro::ticker::reset");
    } catch (...) {
        m_state->lock.unlock();
        throw;
    }
    m_state->lock.unlock();
}

void ticker::destroy() noexcept {
    if (!m_state) return;
    stop();
    std::exchange(m_state, nullptr)->release();
}

// ---- After / Tick ----

chan<time_point> after_ns(std::int64_t deadline_ns) {
    auto c = chan<time_point>::make_timer_channel_();
    auto* t = detail::timer_state::create(c, 0, {});
    t->lock.lock();
    try {
        t->arm_locked(deadline_ns, "goro::after");
    } catch (...) {
        t->lock.unlock();
        t->release();
        throw;
    }
    t->lock.unlock();
    t->release();  // no handle: only the queued node keeps it alive
    return c;
}

chan<time_point> tick_ns(std::int64_t period_ns) {
    if (period_ns <= 0) return chan<time_point>::nil();
    // Go: "the underlying Ticker cannot be recovered by the garbage collector;
    // it leaks". The handle's reference is released only when the runtimes
    // have ended (runtime_lifetime_end): nothing can tick any more then.
    auto* t = detail::timer_state::create(chan<time_point>::make_timer_channel_(), period_ns, {});
    t->lock.lock();
    t->phantom_handle = true;
    try {
        t->arm_locked(detail::monotonic_now_ns() + period_ns, "goro::tick");
    } catch (...) {
        t->lock.unlock();
        t->release();
        throw;
    }
    t->lock.unlock();
    return t->ch;
}

}  // namespace goro
