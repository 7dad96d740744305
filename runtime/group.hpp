// goro::group — errgroup.Group: start tasks, wait for all, get the first error.
//
//     goro::group g;
//     for (auto& url : urls) g.go(fetch(url));
//     co_await g.wait();   // after every task finished; rethrows the first failure
//
// Tasks started in a group are goroutines; their exceptions are collected by
// the group instead of being panics. wait() may be awaited more than once and
// also waits for tasks added while it waits.
//
// errgroup.WithContext and SetLimit:
//
//     goro::group g(parent);              // g.ctx() is cancelled at the first
//     g.set_limit(8);                     // failure, and when wait() returns
//     for (auto& url : urls) g.go(fetch(url, g.ctx()));   // at most 8 run at once
//     co_await g.wait();
//
// With a limit, Go's g.Go blocks its caller until a task finishes; goro's
// go() does not block (it is not awaited): a task beyond the limit waits in
// the group, in order, and starts when a running one finishes. try_go (Go's
// TryGo) starts a task only if the limit allows, and otherwise drops it.
//
// A group task costs what a goro::go task costs: g.go(task) one frame, no
// wrapper (see detail/group_state.hpp for how it reports to the group);
// g.go(f, args...) one more, the wrapper that owns f (detail/owned_call.hpp).
// The group object may be destroyed while its tasks run; they finish
// unobserved then.
#pragma once

#include <coroutine>
#include <cstdint>
#include <exception>
#include <mutex>
#include <source_location>
#include <string>
#include <vector>

#include "context.hpp"
#include "detail/goroutine.hpp"
#include "detail/group_state.hpp"
#include "detail/owned_call.hpp"
#include "error.hpp"
#include "task.hpp"

namespace goro {

class group {
public:
    group() : m_state(new detail::group_state) {}
    /// errgroup.WithContext: ctx() is a child of `parent`, cancelled when a
    /// task of the group first fails, or when wait() returns, whichever is
    /// first (as Go's).
    explicit group(const context& parent) : m_state(new detail::group_state) {
        auto [child, cancel] = with_cancel(parent);
        m_ctx = std::move(child);
        m_state->cancel = [cancel = std::move(cancel)] { cancel(); };
    }
    ~group() { detail::release(m_state); }

    /// The group's context (background() for a group made without one).
    const context& ctx() const noexcept { return m_ctx; }

    /// errgroup.SetLimit: at most n tasks of the group run at once; n < 0
    /// removes the limit. Throws goro::runtime_error while tasks are active,
    /// as Go panics. Tasks queued under a limit of 0 (none can be active)
    /// start as far as the new limit lets them; in Go the g.Go calls that
    /// wait for a limit of 0 would wait forever.
    void set_limit(std::ptrdiff_t n) {
        detail::group_state& st = *m_state;
        detail::goroutine* released = nullptr;
        {
            std::lock_guard guard(st.lock);
            std::uint64_t word = st.pending_word.load(std::memory_order_relaxed);
            for (;;) {
                // Without a limit every pending task counts as active.
                const std::uint64_t active = (word & detail::group_state::k_limited) != 0
                                                 ? st.active
                                                 : (word & detail::group_state::k_count_mask);
                if (active != 0)
                    throw runtime_error("errgroup: modify limit while " + std::to_string(active) +
                                        " goroutines in the group are still active");
                const std::uint64_t mode = n < 0 ? 0 : detail::group_state::k_limited;
                // A CAS, not a store: a start that counts itself in without the
                // lock (no limit) either lands first, and the loop throws, or
                // sees the new mode and takes the lock (group_state.hpp).
                // relaxed: the lock orders the limit; the flag orders nothing.
                if (st.pending_word.compare_exchange_weak(word, (word & detail::group_state::k_count_mask) | mode,
                                                          std::memory_order_relaxed))
                    break;
            }
            st.limit = n < 0 ? -1 : n;
            released = detail::take_released_locked(&st);
        }
        detail::start_released(&st, released);
    }

    /// errgroup.TryGo: starts `t` only if the limit lets it run now; false (and
    /// `t` is destroyed unrun) otherwise.
    template <typename T>
    bool try_go(task<T> t, std::source_location site = std::source_location::current()) {
        return start(std::move(t), site, false);
    }
    group(const group&) = delete;
    group& operator=(const group&) = delete;

    /// Starts `t` as a goroutine belonging to this group (beyond the limit:
    /// queued until a running task finishes).
    template <typename T>
    void go(task<T> t, std::source_location site = std::source_location::current()) {
        (void)start(std::move(t), site, true);
    }

    /// Starts `f()` in this group, its frame owning `f` (as goro::go(f)).
    template <typename F>
        requires detail::owned_callable<F>
    void go(F&& f, std::source_location site = std::source_location::current()) {
        go(detail::make_owned_call(std::forward<F>(f)), site);
    }

    /// Starts `f(args...)` in this group, its frame owning `f` and decayed
    /// copies of the arguments (as goro::go(f, args...)).
    template <typename F, typename Arg, typename... Args>
        requires detail::owned_callable<F, Arg, Args...>
    void go(F&& f, Arg&& arg, Args&&... args) {
        go(detail::make_owned_call(std::forward<F>(f), std::forward<Arg>(arg), std::forward<Args>(args)...));
    }

    class [[nodiscard]] wait_awaiter {
    public:
        explicit wait_awaiter(detail::group_state* st) noexcept : m_state(st) { detail::retain(st); }
        wait_awaiter(const wait_awaiter&) = delete;
        wait_awaiter& operator=(const wait_awaiter&) = delete;
        ~wait_awaiter() {
            if (m_parked) detail::forget_waiter(m_state, m_parked);  // destroyed while parked (shutdown)
            detail::release(m_state);
        }
        bool await_ready() const noexcept { return m_state->pending() == 0; }
        bool await_suspend(std::coroutine_handle<> me) {
            detail::goroutine* self = detail::current_goroutine();
            if (!self) throw no_runtime("goro::group::wait");
            std::lock_guard guard(m_state->lock);
            if (m_state->pending() == 0) return false;  // see group_state.hpp, "No lost wake-up"
            self->resume_point = me;
            detail::note_waiting(self, "group wait");
            m_state->waiters.push_back(self);
            m_parked = self;
            return true;
        }
        void await_resume() {
            m_parked = nullptr;
            // Go: Wait cancels the group's context when it returns.
            if (m_state->cancel) m_state->cancel();
            std::lock_guard guard(m_state->lock);
            if (m_state->first_error) std::rethrow_exception(m_state->first_error);
        }

    private:
        detail::group_state* m_state;           // a counted reference
        detail::goroutine* m_parked = nullptr;  // the waiting goroutine while it is on the list
    };

    /// Completes once every task of the group has finished; rethrows the first
    /// exception any of them threw.
    wait_awaiter wait() noexcept { return wait_awaiter(m_state); }

    /// Tasks started and not yet finished.
    std::size_t pending() const noexcept { return m_state->pending(); }

private:
    template <typename T>
    bool start(task<T> t, const std::source_location& site, bool queue_if_full) {
        auto handle = t.release();
        if (!handle) throw runtime_error("go of nil func value");
        auto& p = handle.promise();
        // start_goroutine's queue push (or the group lock, for a queued
        // task) publishes the record.
        // Still of kind nested: the group's kind is set once it holds a
        // reference (below).
        detail::prepare_root(p, handle, detail::goroutine_kind::nested, site);
        p.join_state.set_group(m_state);
        admission how = admission::start;
        if (!detail::count_in_unlimited(m_state)) [[unlikely]] {
            how = admit_limited(p, queue_if_full);
            if (how == admission::dropped) {
                handle.destroy();  // kind is still nested: it holds no reference
                count_off_unstarted(false);
                return false;
            }
            if (how == admission::queued) return true;  // the state owns it now: touch nothing
        }
        detail::retain(m_state);  // the task's reference: its promise's destructor drops it
        p.kind = detail::goroutine_kind::group_member;
        try {
            detail::start_goroutine(&p, "goro::group::go");
        } catch (...) {
            handle.destroy();  // drops the task's reference
            count_off_unstarted(how == admission::start_active);
            throw;
        }
        return true;
    }

    enum class admission {
        start,         // no limit: counted in, start it
        start_active,  // within the limit: counted in and active, start it
        queued,        // beyond the limit: the state owns the frame until a finish starts it
        dropped,       // try_go beyond the limit: destroy it unrun, count it off
    };

    // The limited mode's start, under the lock; the task is counted in
    // already (count_in_unlimited). The mode is read again under the lock:
    // set_limit may have removed the limit since. A dropped task is still
    // counted in: the caller counts it off (count_off_unstarted).
    admission admit_limited(detail::goroutine& p, bool queue_if_full) {
        detail::group_state& st = *m_state;
        std::lock_guard guard(st.lock);
        if ((st.pending_word.load(std::memory_order_relaxed) & detail::group_state::k_limited) == 0)
            return admission::start;
        if (st.limit < 0 || static_cast<std::ptrdiff_t>(st.active) < st.limit) {
            ++st.active;
            return admission::start_active;
        }
        if (!queue_if_full) return admission::dropped;
        p.queue_next = nullptr;
        if (st.queued_tail)
            st.queued_tail->queue_next = &p;
        else
            st.queued_head = &p;
        st.queued_tail = &p;
        return admission::queued;
    }

    // Counts off a task that was counted in (and, if `was_active`, made
    // active) but will never run: dropped by try_go, or its start failed.
    // Its count may have been the one a waiter saw, so it may wake them.
    void count_off_unstarted(bool was_active) noexcept {
        std::vector<detail::goroutine*> to_wake;
        {
            std::lock_guard guard(m_state->lock);
            if (was_active) --m_state->active;
            if (detail::count_off(m_state)) detail::take_waiters_if_idle_locked(m_state, to_wake);
        }
        for (detail::goroutine* g : to_wake) detail::ready(g);
    }

    detail::group_state* m_state;  // a counted reference (see detail/group_state.hpp)
    context m_ctx = background();
};

}  // namespace goro
