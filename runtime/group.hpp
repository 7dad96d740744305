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
// A group task costs what a goro::go task costs: g.go(task) one frame, no
// wrapper (see detail/group_state.hpp for how it reports to the group);
// g.go(f, args...) one more, the wrapper that owns f (detail/owned_call.hpp). The group object
// may be destroyed while its tasks run; they finish unobserved then.
#pragma once

#include <coroutine>
#include <exception>
#include <mutex>
#include <source_location>

#include "detail/goroutine.hpp"
#include "detail/group_state.hpp"
#include "detail/owned_call.hpp"
#include "error.hpp"
#include "task.hpp"

namespace goro {

class group {
public:
    group() : m_state(new detail::group_state) {}
    ~group() { detail::release(m_state); }
    group(const group&) = delete;
    group& operator=(const group&) = delete;

    /// Starts `t` as a goroutine belonging to this group.
    template <typename T>
    void go(task<T> t, std::source_location site = std::source_location::current()) {
        auto handle = t.release();
        if (!handle) throw runtime_error("go of nil func value");
        {
            std::lock_guard guard(m_state->lock);
            ++m_state->pending;
        }
        detail::retain(m_state);  // the task's reference: its promise's destructor drops it
        auto& p = handle.promise();
        p.kind = detail::goroutine_kind::group_member;
        // relaxed: start_goroutine's queue push publishes the record.
        p.join_state.store(m_state, std::memory_order_relaxed);
        p.spawn_site = site;
        p.frame_link = handle;
        p.resume_point = handle;
        try {
            detail::start_goroutine(&p, "goro::group::go");
        } catch (...) {
            handle.destroy();  // drops the task's reference
            std::lock_guard guard(m_state->lock);
            --m_state->pending;
            throw;
        }
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
            self->wait_reason.store("group wait", std::memory_order_relaxed);
            m_state->waiters.push_back(self);
            m_parked = self;
            return true;
        }
        void await_resume() {
            m_parked = nullptr;
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
    detail::group_state* m_state;  // a counted reference (see detail/group_state.hpp)
};

}  // namespace goro
