// goro::group — errgroup.Group: start tasks, wait for all, get the first error.
//
//     goro::group g;
//     for (auto& url : urls) g.go(fetch(url));
//     co_await g.wait();   // after every task finished; rethrows the first failure
//
// Tasks started in a group are goroutines; their exceptions are collected by
// the group instead of being panics. wait() may be awaited more than once and
// also waits for tasks added while it waits.
#pragma once

#include <coroutine>
#include <exception>
#include <memory>
#include <mutex>
#include <source_location>
#include <vector>

#include "detail/goroutine.hpp"
#include "error.hpp"
#include "go.hpp"
#include "task.hpp"

namespace goro {

class group {
public:
    group() : m_state(std::make_shared<state>()) {}
    group(const group&) = delete;
    group& operator=(const group&) = delete;

    /// Starts `t` as a goroutine belonging to this group.
    template <typename T>
    void go(task<T> t, std::source_location site = std::source_location::current()) {
        if (!t) throw runtime_error("go of nil func value");
        {
            std::lock_guard guard(m_state->lock);
            ++m_state->pending;
        }
        try {
            goro::go(run_child(m_state, std::move(t)), site);
        } catch (...) {
            std::lock_guard guard(m_state->lock);
            --m_state->pending;
            throw;
        }
    }

    /// Completes once every task of the group has finished; rethrows the first
    /// exception any of them threw.
    [[nodiscard]] auto wait() noexcept {
        struct awaiter {
            std::shared_ptr<group::state> st;
            bool await_ready() const {
                std::lock_guard guard(st->lock);
                return st->pending == 0;
            }
            bool await_suspend(std::coroutine_handle<> me) {
                detail::goroutine* self = detail::current_goroutine();
                if (!self) throw no_runtime("goro::group::wait");
                std::lock_guard guard(st->lock);
                if (st->pending == 0) return false;
                self->resume_point = me;
                self->wait_reason.store("group wait", std::memory_order_relaxed);
                st->waiters.push_back(self);
                return true;
            }
            void await_resume() const {
                std::lock_guard guard(st->lock);
                if (st->first_error) std::rethrow_exception(st->first_error);
            }
        };
        return awaiter{m_state};
    }

    /// Tasks started and not yet finished.
    std::size_t pending() const {
        std::lock_guard guard(m_state->lock);
        return m_state->pending;
    }

private:
    struct state {
        mutable std::mutex lock;
        std::size_t pending = 0;                     // guarded by lock
        std::exception_ptr first_error;              // guarded by lock
        std::vector<detail::goroutine*> waiters;     // guarded by lock
    };

    template <typename T>
    static task<> run_child(std::shared_ptr<state> st, task<T> t) {
        std::exception_ptr error;
        try {
            co_await std::move(t);
        } catch (...) {
            error = std::current_exception();
        }
        std::vector<detail::goroutine*> to_wake;
        {
            std::lock_guard guard(st->lock);
            if (error && !st->first_error) st->first_error = error;
            if (--st->pending == 0) to_wake.swap(st->waiters);
        }
        for (detail::goroutine* g : to_wake) detail::ready(g);
    }

    std::shared_ptr<state> m_state;
};

}  // namespace goro
