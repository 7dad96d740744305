// Which runtime runs, and what each thread is to it: the thread's context
// (t_ctx: its processor, machine and goroutine; current_processor() and
// friends), the processor_scope's cousin for the I/O code (netpoll_scope),
// and the foreign-entry protocol by which threads that are not processors
// call into the runtime while shutdown may be closing it (foreign_entry.hpp).
#include <atomic>
#include <thread>

#include "detail/foreign_entry.hpp"
#include "detail/machine.hpp"
#include "detail/scheduler_internal.hpp"
#include "detail/scheduler_state.hpp"

namespace goro::detail {
namespace {

// The one running runtime (one at a time per process).
std::atomic<runtime_state*> g_runtime{nullptr};

// Set on the thread that runs run()'s final destroy loop, for its duration.
thread_local bool t_tearing_down = false;

// Threads that are not processors and are inside a goro call now (the
// outermost foreign_entry of each): see foreign_entry.hpp for the protocol.
std::atomic<std::uint64_t> g_foreign_inside{0};
// This thread's foreign_entry nesting depth.
thread_local unsigned t_foreign_depth = 0;

}  // namespace

// The thread's context (detail/scheduler_internal.hpp).
[[gnu::tls_model("initial-exec")]] constinit thread_local thread_ctx t_ctx;

// Shutdown's half of the foreign-entry protocol: waits until no foreign
// thread is inside a goro call. seq_cst: the load of the Dekker pair (the
// caller stored runtime_state::closed, or unpublished the runtime, before);
// it also acquires the leaving threads' release decrements. Calls are short
// and never wait for shutdown, so this ends.
void wait_for_foreign_calls() noexcept {
    while (g_foreign_inside.load(std::memory_order_seq_cst) != 0) std::this_thread::yield();
}

bool publish_runtime(runtime_state* rt) noexcept {
    runtime_state* expected = nullptr;
    return g_runtime.compare_exchange_strong(expected, rt, std::memory_order_acq_rel);
}

void unpublish_runtime() noexcept {
    // seq_cst: a foreign thread that counts itself in after this sees no
    // runtime; one counted in before it is waited for.
    g_runtime.store(nullptr, std::memory_order_seq_cst);
    wait_for_foreign_calls();
}

void set_tearing_down(bool on) noexcept { t_tearing_down = on; }

[[gnu::noinline]] processor* current_processor() noexcept { return t_ctx.p; }
[[gnu::noinline]] machine* current_machine() noexcept { return t_ctx.m; }
[[gnu::noinline]] netpoll_driver* current_netpoll() noexcept { return t_ctx.p ? t_ctx.p->netpoll.get() : nullptr; }

[[gnu::noinline]] netpoll_scope::netpoll_scope() noexcept {
    processor* p = t_ctx.p;
    if (!p) return;
    machine* m = t_ctx.m;
    // As processor_scope (detail/machine.hpp), whose entry it uses; its own
    // class because netpoll.hpp's users do not see machine.hpp.
    // relaxed: only this thread writes in_sched.
    if (m->in_sched.load(std::memory_order_relaxed)) {
        m_driver = p->netpoll.get();
        return;
    }
    if (enter_processor_fast(p, m) || enter_processor_slow(p, m)) {
        m_driver = p->netpoll.get();
        m_entered = m;
        return;
    }
    m_lost = true;
}

[[gnu::noinline]] netpoll_scope::~netpoll_scope() {
    if (m_entered) leave_processor(static_cast<machine*>(m_entered));
}
[[gnu::noinline]] bool tearing_down() noexcept { return t_tearing_down; }

[[gnu::noinline]] foreign_entry::foreign_entry() noexcept {
    if (t_ctx.p || t_tearing_down) return;
    m_counted = true;
    if (t_foreign_depth++ != 0) return;  // nested: the outermost entry counts
    for (;;) {
        // seq_cst: the store half of the Dekker pair with shutdown's `closed`
        // (foreign_entry.hpp): it precedes every later look at the runtime.
        g_foreign_inside.fetch_add(1, std::memory_order_seq_cst);
        runtime_state* rt = g_runtime.load(std::memory_order_seq_cst);
        if (!rt || !rt->closed.load(std::memory_order_seq_cst)) return;
        // Closed: shutdown is destroying the suspended goroutines, whose
        // waiter records this call could otherwise read after unlocking a
        // primitive (ready_chain reads `next`). Step out and wait until the
        // runtime is unpublished (every frame gone, nothing left parked);
        // reading g_runtime only, never *rt, which is freed after that.
        g_foreign_inside.fetch_sub(1, std::memory_order_release);
        while (g_runtime.load(std::memory_order_acquire) == rt) std::this_thread::yield();
    }
}

[[gnu::noinline]] void foreign_entry::leave() noexcept {
    // release: whatever this thread did to the runtime happens before
    // shutdown, whose wait acquires the count.
    if (--t_foreign_depth == 0) g_foreign_inside.fetch_sub(1, std::memory_order_release);
}
runtime_state* current_runtime() noexcept { return g_runtime.load(std::memory_order_acquire); }

}  // namespace goro::detail
