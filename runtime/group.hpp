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
#include <exception>
#include <mutex>
#include <source_location>
#include <string>

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
    /// as Go panics.
    void set_limit(std::ptrdiff_t n) {
        std::lock_guard guard(m_state->lock);
        if (m_state->active != 0)
            throw runtime_error("errgroup: modify limit while " + std::to_string(m_state->active) +
                                " goroutines in the group are still active");
        m_state->limit = n < 0 ? -1 : n;
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
        bool await_ready() const {
            std::lock_guard guard(m_state->lock);
            return m_state->pending == 0;
        }
        bool await_suspend(std::coroutine_handle<> me) {
            detail::goroutine* self = detail::current_goroutine();
            if (!self) throw no_runtime("goro::group::wait");
            std::lock_guard guard(m_state->lock);
            if (m_state->pending == 0) return false;
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
    std::size_t pending() const {
        std::lock_guard guard(m_state->lock);
        return m_state->pending;
    }

private:
    template <typename T>
    bool start(task<T> t, const std::source_location& site, bool queue_if_full) {
        auto handle = t.release();
        if (!handle) throw runtime_error("go of nil func value");
        auto& p = handle.promise();
        // start_goroutine's queue push (or the group lock, for a queued
        // task) publishes the record.
        p.join_state.set_group(m_state);
        p.spawn_site = site;
        p.frame_link = handle;
        p.resume_point = handle;
        {
            std::lock_guard guard(m_state->lock);
            const bool full =
                m_state->limit >= 0 && static_cast<std::ptrdiff_t>(m_state->active) >= m_state->limit;
            if (full && !queue_if_full) {
                handle.destroy();  // kind is still nested: it holds no reference
                return false;
            }
            ++m_state->pending;
            if (full) {
                // Owned by the state until a finishing task starts it.
                p.queue_next = nullptr;
                if (m_state->queued_tail)
                    m_state->queued_tail->queue_next = &p;
                else
                    m_state->queued_head = &p;
                m_state->queued_tail = &p;
                return true;
            }
            ++m_state->active;
        }
        detail::retain(m_state);  // the task's reference: its promise's destructor drops it
        p.kind = detail::goroutine_kind::group_member;
        try {
            detail::start_goroutine(&p, "goro::group::go");
        } catch (...) {
            handle.destroy();  // drops the task's reference
            std::lock_guard guard(m_state->lock);
            --m_state->pending;
            --m_state->active;
            throw;
        }
        return true;
    }

    detail::group_state* m_state;  // a counted reference (see detail/group_state.hpp)
    context m_ctx = background();
};

}  // namespace goro
