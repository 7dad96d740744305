// goro::context — Go's context package: cancellation, deadlines and
// request-scoped values across tasks.
//
//     auto [ctx, cancel] = goro::with_cancel(goro::background());
//     auto [tctx, tcancel] = goro::with_timeout(ctx, 100ms);
//     co_await goro::select(tctx.done().recv_case(), results.recv_case(...));
//     if (tctx.err() == goro::context_errc::deadline_exceeded) ...
//     std::error_code e = co_await goro::sleep(1s, tctx);   // {} if it slept fully
//     cancel();                                             // cancels ctx and tctx
//
// A context is a cheap copyable handle (a shared_ptr to an immutable-once-
// built node). done() is a channel closed on cancellation (a nil channel for
// background(), never ready); err() is {} while not done, then
// context_errc::canceled ("context canceled") or
// context_errc::deadline_exceeded ("context deadline exceeded"). Cancelling
// a context cancels every descendant and detaches it from its parent.
// with_timeout / with_deadline must be called inside a goro task (they arm a
// goro timer). Values: with_value(parent, key, value) with keys of any
// equality-comparable type; keys of distinct types never collide; value<V>(key)
// returns the nearest binding (nullptr when absent or of another type).
//
// ---- Design (after Go's context.go) ----
// Each cancellable node has a std::mutex guarding its error, cause, the set of
// its children (weak pointers: a child keeps its parent alive, never the
// reverse, so dropping a context frees it) and its registered callbacks.
// cancel(): under the node's lock set err/cause, close done, take the children
// out; callbacks (detail::ctx_callback: records in waiting frames, e.g. a
// sleep or a semaphore acquire) run under the lock, so unregistering one
// (under the same lock) waits for it to finish; then, unlocked, cancel every
// child and remove this node from its parent. Locks are never nested parent
// inside child or the reverse.
#pragma once

#include <any>
#include <atomic>
#include <chrono>
#include <coroutine>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <source_location>
#include <system_error>
#include <variant>
#include <vector>

#include "channel.hpp"
#include "detail/goroutine.hpp"
#include "detail/deadline_ns.hpp"
#include "detail/timer_heap.hpp"
#include "detail/wait_list.hpp"
#include "semaphore.hpp"
#include "time.hpp"

namespace goro {

enum class context_errc { canceled = 1, deadline_exceeded = 2 };

const std::error_category& context_category() noexcept;
inline std::error_code make_error_code(context_errc e) noexcept { return {static_cast<int>(e), context_category()}; }

/// DeadlineExceeded's Timeout(): true for context_errc::deadline_exceeded.
inline bool is_timeout(const std::error_code& e) noexcept { return e == make_error_code(context_errc::deadline_exceeded); }

}  // namespace goro

template <>
struct std::is_error_code_enum<goro::context_errc> : std::true_type {};

namespace goro {

class context;

namespace detail {

/// A hook run (under the context's lock, from the cancelling thread) when the
/// context is cancelled. Lives in the frame of a waiting operation.
struct ctx_callback {
    ctx_callback* next = nullptr;
    ctx_callback* prev = nullptr;
    void (*fn)(ctx_callback* self) noexcept = nullptr;
    // Called (instead of fn) for a callback still linked when its node is
    // destroyed: nothing can cancel that context any more. Only for callbacks
    // that do not keep the node alive themselves (after_func's record); a
    // callback in a waiting frame holds a context and never sees this.
    void (*drop)(ctx_callback* self) noexcept = nullptr;
    bool linked = false;  // guarded by the node's lock
};

struct ctx_node {
    std::shared_ptr<ctx_node> parent;       // immutable
    // Nearest cancellable ancestor-or-self (immutable; kept alive by the
    // parent chain); null: this context is never done.
    ctx_node* cancel_root = nullptr;
    std::int64_t deadline_ns = timer_heap::k_never;  // immutable; earliest in the chain
    std::any key, value;                    // a value node's binding (immutable)
    bool has_value = false;
    bool cancellable = false;

    // ---- cancellable nodes only ----
    std::mutex mu;
    // 0 / canceled / deadline_exceeded. Written under mu (release), read
    // lock-free by err() (acquire: pairs with that store; done's close is
    // ordered after it as well).
    std::atomic<int> err{0};
    std::error_code cause;                       // guarded by mu
    chan<std::monostate> done = chan<std::monostate>::nil();  // made at creation; closed by cancel
    std::vector<std::weak_ptr<ctx_node>> children;  // guarded by mu
    ctx_callback* callbacks = nullptr;           // guarded by mu
    std::optional<timer> deadline_timer;         // set at creation (with_deadline)
    std::weak_ptr<ctx_node> self;                // set at creation

    ~ctx_node();
    void cancel(context_errc e, std::error_code cause_code, bool remove_from_parent) noexcept;
};

/// Registers `cb` with ctx's cancellable root. Returns false (not registered)
/// if the context is already done. A context that can never be cancelled
/// registers nothing and returns true.
bool ctx_register(const context& ctx, ctx_callback* cb) noexcept;
struct ctx_access;
/// Unregisters `cb` (no-op if it already ran); waits for a running callback.
/// Returns true if this call unlinked it (it had neither run nor been dropped).
bool ctx_unregister(const context& ctx, ctx_callback* cb) noexcept;

}  // namespace detail

class context {
public:
    /// background(): never cancelled, no deadline, no values.
    context() noexcept = default;

    /// Done(): closed when the context is cancelled; nil (never ready) for
    /// contexts that cannot be cancelled.
    const chan<std::monostate>& done() const noexcept;
    /// Err(): {} while not done, then canceled or deadline_exceeded.
    std::error_code err() const noexcept;
    /// Deadline(), if any.
    std::optional<time_point> deadline() const noexcept;

    /// Value(key): the nearest binding of `key` (compared with ==, same type
    /// only), or nullptr if absent or bound to a value of another type.
    template <typename V, typename K>
    const V* value(const K& key) const noexcept {
        for (const detail::ctx_node* n = m_node.get(); n; n = n->parent.get()) {
            if (!n->has_value) continue;
            if (const K* k = std::any_cast<K>(&n->key); k && *k == key) return std::any_cast<V>(&n->value);
        }
        return nullptr;
    }

    /// Test hook: how many live children are registered with this context.
    std::size_t debug_children() const noexcept;
    /// Test hook: how many waiting operations (sleeps, acquires, I/O) are
    /// registered for cancellation with this context's cancellable root.
    std::size_t debug_callbacks() const noexcept;

private:
    friend struct detail::ctx_access;
    explicit context(std::shared_ptr<detail::ctx_node> n) noexcept : m_node(std::move(n)) {}
    std::shared_ptr<detail::ctx_node> m_node;  // null: background
};

namespace detail {
struct ctx_access {
    static const std::shared_ptr<ctx_node>& node(const context& c) noexcept { return c.m_node; }
    static context make(std::shared_ptr<ctx_node> n) noexcept { return context(std::move(n)); }
};
}  // namespace detail

/// Cancels its context (CancelFunc). Copyable; calling it again does nothing.
class cancel_func {
public:
    cancel_func() = default;
    explicit cancel_func(std::shared_ptr<detail::ctx_node> n) noexcept : m_node(std::move(n)) {}
    void operator()() const noexcept;
    /// CancelCauseFunc: the first cause wins.
    void operator()(std::error_code cause) const noexcept;

private:
    std::shared_ptr<detail::ctx_node> m_node;
};

struct context_and_cancel {
    context ctx;
    cancel_func cancel;
};

[[nodiscard]] inline context background() noexcept { return {}; }
[[nodiscard]] inline context todo() noexcept { return {}; }

[[nodiscard]] context_and_cancel with_cancel(const context& parent);
/// WithCancelCause: call cancel(cause); cause(ctx) returns it.
[[nodiscard]] context_and_cancel with_cancel_cause(const context& parent);
[[nodiscard]] context_and_cancel with_deadline_ns(const context& parent, std::int64_t deadline_ns,
                                                  std::error_code timeout_cause = {});

template <typename Clock, typename Duration>
[[nodiscard]] context_and_cancel with_deadline(const context& parent, std::chrono::time_point<Clock, Duration> tp) {
    return with_deadline_ns(parent, detail::deadline_at(tp));
}
template <typename Rep, typename Period>
[[nodiscard]] context_and_cancel with_timeout(const context& parent, std::chrono::duration<Rep, Period> d) {
    return with_deadline_ns(parent, detail::deadline_after(d));
}
/// WithTimeoutCause: when the timeout fires first, cause(ctx) is `c`.
template <typename Rep, typename Period>
[[nodiscard]] context_and_cancel with_timeout_cause(const context& parent, std::chrono::duration<Rep, Period> d,
                                                    std::error_code c) {
    return with_deadline_ns(parent, detail::deadline_after(d), c);
}

/// WithValue(parent, key, value).
template <typename K, typename V>
[[nodiscard]] context with_value(const context& parent, K key, V value) {
    auto n = std::make_shared<detail::ctx_node>();
    const auto& p = detail::ctx_access::node(parent);
    n->parent = p;
    n->cancel_root = p ? p->cancel_root : nullptr;
    n->deadline_ns = p ? p->deadline_ns : detail::timer_heap::k_never;
    n->key = std::move(key);
    n->value = std::move(value);
    n->has_value = true;
    return detail::ctx_access::make(std::move(n));
}

/// WithoutCancel: keeps the values, drops cancellation and deadline.
[[nodiscard]] context without_cancel(const context& parent);

/// Cause(ctx): the cause given to the first cancel, else err().
std::error_code cause(const context& ctx) noexcept;

// ---------------------------------------------------------------- AfterFunc

namespace detail {
// Ownership (no cycle, so nothing leaks when a context is dropped uncancelled):
// the handle and, while the record is linked into its node's callback list,
// the registration (`keep_alive`) own the record; the record only observes
// the node (`root`, weak). Whoever unlinks the record from the list ends the
// registration's reference, exactly once: cancel (on_cancel), stop()
// (ctx_unregister returned true) or the node's destructor (on_drop: every
// handle to the context and its cancel funcs are gone, it can never be done,
// so f is dropped without running). A context that can never be done
// registers nothing and takes no registration reference at all.
struct ctx_after_func : ctx_callback {
    std::weak_ptr<ctx_node> root;               // the cancellable root it is registered with
    std::function<task<void>()> action;
    std::source_location site{};  // where after_func was called: the action's spawn site
    // 0 pending, 1 started, 2 stopped. CAS (acq_rel) by the callback and stop().
    std::atomic<int> state{0};
    // The registration's reference: written at creation, then only by the
    // party that unlinks the record (under the node's lock, or in ~ctx_node
    // when no other owner of the node is left).
    std::shared_ptr<ctx_after_func> keep_alive;
    static void on_cancel(ctx_callback* cb) noexcept;
    static void on_drop(ctx_callback* cb) noexcept;
    void start() noexcept;
};
}  // namespace detail

/// The handle returned by goro::after_func(ctx, f). Copyable.
class context_after_func {
public:
    context_after_func() = default;
    explicit context_after_func(std::shared_ptr<detail::ctx_after_func> r) noexcept : m_rec(std::move(r)) {}
    /// Stops the association: true if this call prevented f from being
    /// started, false if f has already been started or stop was called.
    bool stop() noexcept;

private:
    std::shared_ptr<detail::ctx_after_func> m_rec;
};

context_after_func after_func_impl(const context& ctx, std::function<task<void>()> fn, std::source_location site);

/// context.AfterFunc(ctx, f): runs f (returning void or a goro::task<>) in a
/// new task once ctx is done, or at once if it is done already. Cancel does
/// not wait for f. f is started as a goroutine by the cancelling thread: on
/// its processor when a task cancels, through the global queue when another
/// thread does (README, "Calling goro from other threads"); a cancel made
/// while no goro::run is running drops f without running it. The
/// registration does not keep ctx alive: if every context handle and cancel
/// func of ctx's cancellable root is dropped without cancelling it (Go vet's
/// "lostcancel"), f is destroyed without running; a never-done ctx
/// (background()) never runs f. Go's GC would run f if an ancestor were later
/// cancelled; goro's parents do not own their children. f's task is spawned
/// at `site`: dumps, traces and panics name the line that called after_func.
template <typename F>
[[nodiscard]] context_after_func after_func(const context& ctx, F f,
                                            std::source_location site = std::source_location::current()) {
    std::function<task<void>()> fn;
    if constexpr (std::is_void_v<std::invoke_result_t<F&>>)
        fn = [f = std::move(f)]() mutable -> task<void> {
            f();
            co_return;
        };
    else
        fn = [f = std::move(f)]() mutable -> task<void> { co_await f(); };
    return after_func_impl(ctx, std::move(fn), site);
}

// ---------------------------------------------------------------- sleep with a context

namespace detail {

struct ctx_sleep_awaiter : timer_node, ctx_callback {
    const context* ctx;
    goroutine* g = nullptr;
    std::error_code result;
    // 0 undecided; 1 the timer won; 2 the context won. CAS (acq_rel) by the two wakers.
    std::atomic<int> winner{0};
    // Set (release) by the timer's fire as its last touch of the frame.
    std::atomic<bool> fired{false};
    bool parked = false;

    ctx_sleep_awaiter(const context& c, std::int64_t deadline) noexcept : ctx(&c) { when = deadline; }
    ctx_sleep_awaiter(const ctx_sleep_awaiter&) = delete;
    ctx_sleep_awaiter& operator=(const ctx_sleep_awaiter&) = delete;
    ~ctx_sleep_awaiter() {
        if (parked) abandon();  // destroyed while parked (runtime shutdown)
    }

    bool await_ready() noexcept {
        result = ctx->err();
        return static_cast<bool>(result);
    }
    bool await_suspend(std::coroutine_handle<> h);
    std::error_code await_resume() noexcept {
        if (parked) finish();
        return result;
    }
    void finish() noexcept;
    // Shutdown: every processor has stopped and the timer heaps were cleared
    // without firing, so no fire is in flight and none will come.
    void abandon() noexcept;
};

}  // namespace detail

/// co_await goro::sleep(d, ctx) -> std::error_code: {} if it slept the whole
/// duration, else ctx.err() (cancelled or deadline exceeded first).
template <typename Rep, typename Period>
[[nodiscard]] detail::ctx_sleep_awaiter sleep(std::chrono::duration<Rep, Period> d, const context& ctx) {
    return detail::ctx_sleep_awaiter(ctx, detail::deadline_after(d));
}

// ---------------------------------------------------------------- semaphore acquire with a context

namespace detail {

template <typename Sem>
class [[nodiscard]] sem_ctx_acquire : ctx_callback {
public:
    sem_ctx_acquire(Sem& s, std::int64_t n, const context& c) noexcept : m_sem(&s), m_ctx(&c) {
        m_waiter.amount = n;
        m_waiter.ctx = &c;  // for a destruction of the semaphore (wait_list.hpp)
        m_waiter.ctx_cb = this;
        fn = &on_cancel;
    }
    sem_ctx_acquire(const sem_ctx_acquire&) = delete;
    sem_ctx_acquire& operator=(const sem_ctx_acquire&) = delete;
    ~sem_ctx_acquire() {
        if (m_registered) {  // destroyed while parked (runtime shutdown)
            ctx_unregister(*m_ctx, this);  // first: the callback touches the queue
            if (parked_op_must_leave(m_waiter))  // then m_sem is alive
                leave_list(m_sem->m_lock, m_sem->queue_for(m_waiter.amount), m_waiter);
        }
    }

    bool await_ready() noexcept {
        if ((m_result = m_ctx->err())) return true;
        m_sem->m_lock.lock();
        if (m_sem->try_acquire_locked(m_waiter.amount)) {
            m_waiter.granted = true;
            m_sem->m_lock.unlock();
            return true;
        }
        m_sem->m_lock.unlock();
        // Register for cancellation before publishing the waiter, so the
        // callback can never run after the frame is gone.
        if (!ctx_register(*m_ctx, this)) {
            m_result = m_ctx->err();
            return true;
        }
        m_registered = true;
        m_sem->m_lock.lock();
        // Re-check: units may have been released meanwhile.
        if (m_sem->try_acquire_locked(m_waiter.amount)) {
            m_waiter.granted = true;  // before unlocking: a racing cancel then keeps it
            m_sem->m_lock.unlock();
            finish_registration();
            return true;
        }
        return false;  // sem lock held until await_suspend
    }
    bool await_suspend(std::coroutine_handle<> h) {
        goroutine* self;
        try {
            self = prepare_park(h, "semacquire", "goro::semaphore::acquire");
        } catch (...) {
            m_sem->m_lock.unlock();
            finish_registration();
            throw;
        }
        if (m_cancelled) {  // the context was cancelled since we registered
            m_sem->m_lock.unlock();
            return false;
        }
        m_waiter.g = self;
        m_parked = true;
        // Too big to ever fit: wait only for the context (in m_never), blocking nobody.
        m_sem->queue_for(m_waiter.amount).push_back(&m_waiter);
        m_sem->m_lock.unlock();  // publication
        return true;
    }
    std::error_code await_resume() noexcept {
        finish_registration();
        if (m_waiter.granted) return {};
        if (m_cancelled) return m_ctx->err();
        return m_result;
    }

private:
    void finish_registration() noexcept {
        if (m_registered) {
            ctx_unregister(*m_ctx, this);
            m_registered = false;
        }
    }
    static void on_cancel(ctx_callback* cb) noexcept {
        // At teardown (a context cancelled by a frame being destroyed) the
        // task will never run again and the semaphore may be gone
        // (wait_list.hpp): touch nothing.
        if (tearing_down()) return;
        auto* self = static_cast<sem_ctx_acquire*>(cb);
        Sem* s = self->m_sem;
        s->m_lock.lock();
        if (self->m_waiter.granted) {  // acquired first: keep it
            s->m_lock.unlock();
            return;
        }
        self->m_cancelled = true;
        goroutine* wake = nullptr;
        sync_waiter* others = nullptr;
        if (self->m_parked) {
            const bool was_head = s->m_waiters.head == &self->m_waiter;
            if (self->m_waiter.queued) s->queue_for(self->m_waiter.amount).unlink(&self->m_waiter);
            // x/sync: a cancelled head may have been blocking smaller waiters.
            if (was_head) others = s->grant_locked();
            wake = self->m_waiter.g;
        }
        s->m_lock.unlock();
        ready_chain(others);
        if (wake) ready(wake);
    }

    Sem* m_sem;
    const context* m_ctx;
    sync_waiter m_waiter;
    std::error_code m_result;
    bool m_registered = false;
    bool m_parked = false;     // guarded by the semaphore lock once registered
    bool m_cancelled = false;  // guarded by the semaphore lock
};

}  // namespace detail

template <typename Ctx>
detail::sem_ctx_acquire<semaphore> semaphore::acquire(std::int64_t n, const Ctx& ctx) noexcept {
    return detail::sem_ctx_acquire<semaphore>(*this, n, ctx);
}

}  // namespace goro
