// goro::context: cancellation trees, deadlines, values. Design notes at the
// top of runtime/context.hpp.
#include "context.hpp"

#include <string>

namespace goro {

namespace {

struct context_category_impl final : std::error_category {
    const char* name() const noexcept override { return "goro.context"; }
    std::string message(int e) const override {
        switch (static_cast<context_errc>(e)) {
            case context_errc::canceled: return "context canceled";
            case context_errc::deadline_exceeded: return "context deadline exceeded";
        }
        return "context error";
    }
    std::error_condition default_error_condition(int e) const noexcept override {
        if (static_cast<context_errc>(e) == context_errc::deadline_exceeded) return std::errc::timed_out;
        return std::errc::operation_canceled;
    }
};

const chan<std::monostate>& nil_done() noexcept {
    static const chan<std::monostate> nil = chan<std::monostate>::nil();
    return nil;
}

std::error_code code_of(int e) noexcept {
    return e ? make_error_code(static_cast<context_errc>(e)) : std::error_code{};
}

// A new cancellable node under `parent`, linked into the parent's cancellable
// root (or born cancelled if that root is done already).
std::shared_ptr<detail::ctx_node> new_cancellable(const context& parent) {
    auto n = std::make_shared<detail::ctx_node>();
    const auto& p = detail::ctx_access::node(parent);
    n->parent = p;
    n->cancel_root = n.get();
    n->cancellable = true;
    n->done = chan<std::monostate>(std::size_t{0});
    n->self = n;
    n->deadline_ns = p ? p->deadline_ns : detail::timer_heap::k_never;
    detail::ctx_node* root = p ? p->cancel_root : nullptr;
    if (root) {
        std::unique_lock guard(root->mu);
        if (const int e = root->err.load(std::memory_order_relaxed)) {
            const std::error_code c = root->cause;
            guard.unlock();
            n->cancel(static_cast<context_errc>(e), c, false);  // a child of a done parent is born done
        } else {
            auto& v = root->children;
            // Children that were dropped without cancel leave expired entries:
            // prune them whenever the vector would grow.
            if (v.size() == v.capacity())
                for (std::size_t i = 0; i < v.size();) {
                    if (v[i].expired()) {
                        v[i] = std::move(v.back());
                        v.pop_back();
                    } else {
                        ++i;
                    }
                }
            v.push_back(n);
        }
    }
    return n;
}

}  // namespace

const std::error_category& context_category() noexcept {
    static const context_category_impl category;
    return category;
}

namespace detail {

ctx_node::~ctx_node() {
    // Nothing to unlink from the parent: it holds weak pointers, pruned lazily.
    // Callbacks still linked can never run now: drop them. No lock: the last
    // owner is gone, and weak observers (after_func's stop) fail to lock us.
    while (ctx_callback* cb = callbacks) {
        callbacks = cb->next;
        cb->linked = false;
        cb->next = cb->prev = nullptr;
        if (cb->drop) cb->drop(cb);  // may free cb
    }
}

void ctx_node::cancel(context_errc e, std::error_code cause_code, bool remove_from_parent) noexcept {
    std::vector<std::weak_ptr<ctx_node>> kids;
    bool has_timer;
    {
        std::lock_guard guard(mu);
        if (err.load(std::memory_order_relaxed) != 0) return;  // the first cancel wins
        cause = cause_code ? cause_code : make_error_code(e);
        // release: pairs with the acquire in err(); a task that sees done
        // closed or err set also sees the cause.
        err.store(static_cast<int>(e), std::memory_order_release);
        try {
            done.close();
        } catch (...) {
        }
        kids.swap(children);
        has_timer = deadline_timer.has_value();  // set under mu, never changed afterwards
        // Callbacks run under mu: unregistering (under mu) waits for them.
        while (ctx_callback* cb = callbacks) {
            callbacks = cb->next;
            if (callbacks) callbacks->prev = nullptr;
            cb->linked = false;
            cb->next = cb->prev = nullptr;
            cb->fn(cb);
        }
    }
    if (has_timer) deadline_timer->stop();
    for (auto& w : kids)
        if (auto child = w.lock()) child->cancel(e, cause, false);
    if (remove_from_parent && parent && parent->cancel_root) {
        ctx_node* root = parent->cancel_root;
        std::lock_guard guard(root->mu);
        auto& v = root->children;
        for (std::size_t i = 0; i < v.size();) {
            auto sp = v[i].lock();
            if (!sp || sp.get() == this) {
                v[i] = std::move(v.back());
                v.pop_back();
            } else {
                ++i;
            }
        }
    }
}

bool ctx_register(const context& ctx, ctx_callback* cb) noexcept {
    const auto& n = ctx_access::node(ctx);
    ctx_node* root = n ? n->cancel_root : nullptr;
    if (!root) return true;  // never done: nothing to register
    std::lock_guard guard(root->mu);
    if (root->err.load(std::memory_order_relaxed) != 0) return false;
    cb->prev = nullptr;
    cb->next = root->callbacks;
    if (root->callbacks) root->callbacks->prev = cb;
    root->callbacks = cb;
    cb->linked = true;
    return true;
}

namespace {
bool unregister_from(ctx_node& root, ctx_callback* cb) noexcept {
    std::lock_guard guard(root.mu);  // waits for a callback running under it
    if (!cb->linked) return false;
    if (cb->prev)
        cb->prev->next = cb->next;
    else
        root.callbacks = cb->next;
    if (cb->next) cb->next->prev = cb->prev;
    cb->next = cb->prev = nullptr;
    cb->linked = false;
    return true;
}
}  // namespace

bool ctx_unregister(const context& ctx, ctx_callback* cb) noexcept {
    const auto& n = ctx_access::node(ctx);
    ctx_node* root = n ? n->cancel_root : nullptr;
    if (!root) return false;
    return unregister_from(*root, cb);
}

// ---- sleep(d, ctx) ----

bool ctx_sleep_awaiter::await_suspend(std::coroutine_handle<> h) {
    g = prepare_park(h, "sleep", "goro::sleep");
    timer_node::fire = [](timer_node* node) noexcept {
        auto* self = static_cast<ctx_sleep_awaiter*>(node);
        goroutine* target = self->g;
        int expected = 0;
        const bool won = self->winner.compare_exchange_strong(expected, 1, std::memory_order_acq_rel);
        self->fired.store(true, std::memory_order_release);  // last touch of the frame
        if (won) ready_local(target);
    };
    ctx_callback::fn = [](ctx_callback* cb) noexcept {
        auto* self = static_cast<ctx_sleep_awaiter*>(cb);
        int expected = 0;
        if (self->winner.compare_exchange_strong(expected, 2, std::memory_order_acq_rel)) ready(self->g);
    };
    // The timer first: only this processor fires it, and it is busy with us
    // until we return, so it cannot fire (and resume us) too early.
    add_timer(this, "goro::sleep");
    parked = true;
    if (!ctx_register(*ctx, this)) {  // already done
        if (timer_heap::remove(this)) fired.store(true, std::memory_order_relaxed);
        winner.store(2, std::memory_order_relaxed);
        return false;  // resume at once; await_resume finishes
    }
    return true;  // published: the frame belongs to the wakers now
}

void ctx_sleep_awaiter::finish() noexcept {
    parked = false;
    ctx_unregister(*ctx, this);  // waits for a cancel callback in flight
    if (timer_heap::remove(this)) {
        fired.store(true, std::memory_order_relaxed);
    } else {
        // The timer fired or is firing: wait for its last touch of the frame.
        while (!fired.load(std::memory_order_acquire)) cpu_relax();
    }
    result = winner.load(std::memory_order_acquire) == 1 ? std::error_code{} : ctx->err();
}

void ctx_sleep_awaiter::abandon() noexcept {
    parked = false;
    ctx_unregister(*ctx, this);
    (void)timer_heap::remove(this);
}

}  // namespace detail

// ---- context ----

const chan<std::monostate>& context::done() const noexcept {
    if (!m_node || !m_node->cancel_root) return nil_done();
    return m_node->cancel_root->done;
}

std::error_code context::err() const noexcept {
    if (!m_node || !m_node->cancel_root) return {};
    return code_of(m_node->cancel_root->err.load(std::memory_order_acquire));
}

std::optional<time_point> context::deadline() const noexcept {
    if (!m_node || m_node->deadline_ns == detail::timer_heap::k_never) return std::nullopt;
    return time_point(std::chrono::duration_cast<time_point::duration>(std::chrono::nanoseconds(m_node->deadline_ns)));
}

std::size_t context::debug_children() const noexcept {
    if (!m_node || !m_node->cancel_root) return 0;
    std::lock_guard guard(m_node->cancel_root->mu);
    std::size_t n = 0;
    for (auto& w : m_node->cancel_root->children)
        if (!w.expired()) ++n;
    return n;
}

std::size_t context::debug_callbacks() const noexcept {
    if (!m_node || !m_node->cancel_root) return 0;
    std::lock_guard guard(m_node->cancel_root->mu);
    std::size_t n = 0;
    for (const detail::ctx_callback* cb = m_node->cancel_root->callbacks; cb; cb = cb->next) ++n;
    return n;
}

void cancel_func::operator()() const noexcept {
    const detail::foreign_entry entry;  // may be called from any thread
    if (m_node) m_node->cancel(context_errc::canceled, {}, true);
}

void cancel_func::operator()(std::error_code c) const noexcept {
    const detail::foreign_entry entry;  // may be called from any thread
    if (m_node) m_node->cancel(context_errc::canceled, c, true);
}

context_and_cancel with_cancel(const context& parent) {
    auto n = new_cancellable(parent);
    return {detail::ctx_access::make(n), cancel_func(n)};
}

context_and_cancel with_cancel_cause(const context& parent) { return with_cancel(parent); }

context_and_cancel with_deadline_ns(const context& parent, std::int64_t deadline_ns, std::error_code timeout_cause) {
    const auto& p = detail::ctx_access::node(parent);
    if (p && p->deadline_ns <= deadline_ns) return with_cancel(parent);  // the parent's deadline is sooner
    auto n = new_cancellable(parent);
    n->deadline_ns = deadline_ns;
    const std::int64_t now = detail::monotonic_now_ns();
    if (deadline_ns <= now) {
        n->cancel(context_errc::deadline_exceeded, timeout_cause, true);
    } else {
        // Under mu: a concurrent cancel (from the parent) reads deadline_timer
        // under mu too; once cancelled there is no timer to arm.
        std::lock_guard guard(n->mu);
        if (n->err.load(std::memory_order_relaxed) != 0) return {detail::ctx_access::make(n), cancel_func(n)};
        std::weak_ptr<detail::ctx_node> weak = n;
        n->deadline_timer.emplace(goro::after_func(std::chrono::nanoseconds(deadline_ns - now), [weak, timeout_cause] {
            if (auto sp = weak.lock()) sp->cancel(context_errc::deadline_exceeded, timeout_cause, true);
        }));
    }
    return {detail::ctx_access::make(n), cancel_func(n)};
}

context without_cancel(const context& parent) {
    auto n = std::make_shared<detail::ctx_node>();
    n->parent = detail::ctx_access::node(parent);
    n->cancel_root = nullptr;
    n->deadline_ns = detail::timer_heap::k_never;
    return detail::ctx_access::make(std::move(n));
}

std::error_code cause(const context& ctx) noexcept {
    const auto& n = detail::ctx_access::node(ctx);
    detail::ctx_node* root = n ? n->cancel_root : nullptr;
    if (!root) return {};
    std::lock_guard guard(root->mu);
    return root->err.load(std::memory_order_relaxed) ? root->cause : std::error_code{};
}

// ---- AfterFunc ----

namespace detail {

void ctx_after_func::start() noexcept {
    // A goroutine owning a copy of the action (the record may go away first).
    try {
        goro::go([](std::function<task<void>()> fn) -> task<void> { co_await fn(); }(action), site);
    } catch (const no_runtime&) {
        // Cancelled on a thread outside goro::run with no runtime running (a
        // goro::signal delivery between two runs): f cannot run, and is
        // dropped, as goro::go from such a thread drops its task.
    }
}

void ctx_after_func::on_cancel(ctx_callback* cb) noexcept {
    auto* self = static_cast<ctx_after_func*>(cb);
    int expected = 0;
    if (self->state.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) self->start();
    // cancel() unlinked us: the registration's reference ends. This may
    // destroy the record (never the node: the record only observes it).
    self->keep_alive.reset();
}

void ctx_after_func::on_drop(ctx_callback* cb) noexcept {
    // ~ctx_node unlinked us: the context can never be done; f never runs.
    static_cast<ctx_after_func*>(cb)->keep_alive.reset();  // may destroy the record
}

}  // namespace detail

context_after_func after_func_impl(const context& ctx, std::function<task<void>()> fn, std::source_location site) {
    auto rec = std::make_shared<detail::ctx_after_func>();
    rec->action = std::move(fn);
    rec->site = site;
    rec->fn = &detail::ctx_after_func::on_cancel;
    rec->drop = &detail::ctx_after_func::on_drop;
    const auto& n = detail::ctx_access::node(ctx);
    detail::ctx_node* root = n ? n->cancel_root : nullptr;
    if (!root) return context_after_func(rec);  // never done: nothing to register, f never runs
    rec->root = root->self;
    // Before registering: once linked, a cancel on another thread may end
    // this reference at any moment.
    rec->keep_alive = rec;
    if (!detail::ctx_register(ctx, rec.get())) {  // already done: call at once
        rec->keep_alive.reset();
        rec->state.store(1, std::memory_order_relaxed);
        rec->start();
    }
    return context_after_func(rec);
}

bool context_after_func::stop() noexcept {
    if (!m_rec) return false;
    bool unlinked = false;
    // The node is gone: its destructor dropped the registration already.
    if (auto root = m_rec->root.lock()) unlinked = detail::unregister_from(*root, m_rec.get());  // waits for a callback in flight
    int expected = 0;
    const bool stopped = m_rec->state.compare_exchange_strong(expected, 2, std::memory_order_acq_rel);
    if (unlinked) m_rec->keep_alive.reset();  // we unlinked it: the registration's reference is ours to end
    return stopped;
}

}  // namespace goro
