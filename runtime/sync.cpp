// The non-template parts of the sync primitives: goro::mutex's contended
// paths (see the design notes in runtime/mutex.hpp), the fatal-error exit
// shared by the mutexes, and what every primitive with a wait list does when
// destroyed with tasks parked on it (see runtime/detail/wait_list.hpp).
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "context.hpp"
#include "detail/fatal.hpp"
#include "detail/scheduler_state.hpp"
#include "detail/timer_heap.hpp"
#include "mutex.hpp"
#include "run.hpp"
#include "rw_mutex.hpp"

namespace goro {

namespace detail {

void sync_fatal(const char* msg) noexcept { fatal_exit(std::string("fatal error: ") + msg + "\n"); }

void destroyed_with_waiters(chan_lock& lock, std::initializer_list<wait_list*> lists,
                            const char* orphan_reason) noexcept {
    // Under the lock: unlink every waiter (queued = false: no waker finds it,
    // and its park op's destructor will leave this primitive alone) and
    // forget its task, which is never readied again. The orphans are chained
    // through `next`, now ours alone.
    sync_waiter* orphans = nullptr;
    for (wait_list* l : lists) {
        while (sync_waiter* w = l->pop_front()) {
            // relaxed: diagnostic only (dumps and the deadlock report).
            if (w->g) w->g->wait_reason.store(orphan_reason, std::memory_order_relaxed);
            w->g = nullptr;
            w->next = orphans;
            orphans = w;
        }
    }
    lock.unlock();
    // Unlocked: a context callback in flight takes this lock, finds its
    // waiter unlinked and does nothing; unregistering waits for it, and no
    // cancel reaches the waiter afterwards. The waiter records stay valid:
    // parked frames are destroyed only by run()'s teardown, on this thread if
    // that is where we are.
    while (orphans) {
        sync_waiter* next = orphans->next;
        if (orphans->ctx_cb) ctx_unregister(*orphans->ctx, orphans->ctx_cb);
        orphans = next;
    }
}

}  // namespace detail

mutex::~mutex() { destroy_wait_lists("goro::mutex destroyed"); }

void mutex::destroy_wait_lists(const char* what) noexcept {
    // A fast-path lock or unlock touches only m_state, never the list: the
    // check costs nothing on those paths. Count and list are both dropped
    // with the mutex: neither is adjusted when the waiters are orphaned.
    detail::destroy_wait_lists(m_queue_lock, {&m_waiters}, what);
}

bool mutex::lock_spin() noexcept {
    if (try_lock()) return true;
    // Spin briefly only when another processor may be running the holder
    // (Go's sync_runtime_canSpin: multicore, few iterations). With one
    // processor the holder is parked or queued behind us: spinning is useless.
    // (Read each time, not cached in a thread_local: a thread can serve
    // several runs, with different procs, one after the other.)
    const detail::runtime_state* rt = detail::current_runtime();
    if (!rt || rt->nprocs < 2) return false;
    for (int round = 0; round < 4; ++round) {
        for (int i = 0; i < 30; ++i) detail::cpu_relax();
        // relaxed: a hint; try_lock re-checks with an acquire CAS.
        const std::uint32_t s = m_state.load(std::memory_order_relaxed);
        if (s & k_starving) return false;  // the lock belongs to the queue
        if (!(s & k_locked) && try_lock()) return true;
    }
    return false;
}

// One park attempt of the slow path. await_suspend either takes the lock
// (returns false: no suspension) or registers the waiter and parks.
struct mutex::park_op {
    mutex* m;
    // lock(ctx): the context to give up on (its callback is registered by the
    // caller for as long as this op can park); null for plain lock().
    const context* ctx = nullptr;
    detail::sync_waiter waiter{};
    bool woken = false;     // we were woken once (normal mode): we own the woken bit, queue at the front
    bool acquired = false;  // took the lock without parking
    bool parked = false;
    // Gave up because ctx is done: set under m_queue_lock, either by
    // await_suspend (not parking) or by the cancel callback (which unlinked
    // the waiter and readies the task: ready() orders it before we resume).
    bool cancelled = false;

    explicit park_op(mutex* mu, const context* c = nullptr) noexcept : m(mu), ctx(c) {}
    park_op(const park_op&) = delete;
    park_op& operator=(const park_op&) = delete;
    ~park_op() {
        // Destroyed while parked (runtime shutdown): leave the queue, unless we
        // are no longer linked (the mutex may be gone then: wait_list.hpp).
        if (parked && detail::parked_op_must_leave(waiter)) {
            m->m_queue_lock.lock();
            if (waiter.queued) {
                m->m_waiters.unlink(&waiter);
                m->m_state.fetch_sub(k_waiter, std::memory_order_relaxed);
            }
            m->m_queue_lock.unlock();
        }
    }

    bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> h) {
        detail::goroutine* self = detail::prepare_park(h, "sync.Mutex.Lock", "goro::mutex::lock");
        const std::int64_t now = detail::monotonic_now_ns();
        if (waiter.since_ns == 0) waiter.since_ns = now;
        const bool starving = now - waiter.since_ns > k_starvation_threshold_ns;
        m->m_queue_lock.lock();
        std::uint32_t s = m->m_state.load(std::memory_order_relaxed);
        for (;;) {
            if (!(s & (k_locked | k_starving))) {
                std::uint32_t n = s | k_locked;
                if (woken) n &= ~k_woken;
                // acquire: pairs with the release in unlock().
                if (m->m_state.compare_exchange_weak(s, n, std::memory_order_acquire, std::memory_order_relaxed)) {
                    m->m_queue_lock.unlock();
                    acquired = true;
                    return false;
                }
                continue;
            }
            // Lost-wake-up re-check for lock(ctx): a cancel callback that ran
            // while we were not queued did nothing; it ran after ctx's err was
            // stored, and its m_queue_lock critical section is ordered before
            // ours, so err() shows it. A callback that runs after we unlock
            // finds us queued. Give up instead of parking.
            if (ctx && ctx->err()) {
                if (woken) {
                    // Hand the woken bit back, but only while the lock is still
                    // held (or starving): then its holder's unlock sees the bit
                    // clear and wakes the next waiter (see mutex.hpp).
                    // relaxed: m_queue_lock orders this with the list.
                    if (!m->m_state.compare_exchange_weak(s, s & ~k_woken, std::memory_order_relaxed,
                                                          std::memory_order_relaxed))
                        continue;  // the state moved (perhaps unlocked): look again
                    woken = false;
                }
                m->m_queue_lock.unlock();
                cancelled = true;
                return false;
            }
            std::uint32_t n = s + k_waiter;
            if (woken) n &= ~k_woken;
            if (starving && (s & k_locked)) n |= k_starving;
            // Lost-wake-up re-check: this CAS fails if the holder unlocked
            // since our load; we then retry the lock instead of parking. Once
            // it succeeds, the unlocker sees our count and takes the slow path
            // (which needs m_queue_lock, held by us until we are linked).
            // relaxed: m_queue_lock orders the count with the list.
            if (m->m_state.compare_exchange_weak(s, n, std::memory_order_relaxed, std::memory_order_relaxed)) break;
        }
        waiter.g = self;
        waiter.granted = false;
        parked = true;
        if (woken)
            m->m_waiters.push_front(&waiter);  // Go: a woken waiter that lost keeps its place at the front
        else
            m->m_waiters.push_back(&waiter);
        m->m_queue_lock.unlock();  // publication: the frame belongs to the unlocker now
        return true;
    }
    void await_resume() noexcept { parked = false; }
};

task<void> mutex::lock_slow() {
    park_op op(this);
    for (;;) {
        co_await op;
        if (op.acquired || op.waiter.granted) co_return;  // granted: handed over in starvation mode
        op.woken = true;  // woken in normal mode: compete again
    }
}

// lock(ctx)'s park op: park_op plus the context callback (both in the frame of
// lock_slow_ctx). The callback runs on the cancelling thread under the
// context's lock; unregistering (under that lock) waits for it, so it never
// touches a dead frame.
struct mutex::ctx_park_op : park_op, detail::ctx_callback {
    bool registered = false;

    ctx_park_op(mutex* mu, const context* c) noexcept : park_op(mu, c) {
        fn = &on_cancel;
        waiter.ctx = c;  // for a destruction of the mutex (wait_list.hpp)
        waiter.ctx_cb = this;
    }
    ~ctx_park_op() {
        // First the callback (it could still unlink us and ready a dying
        // task), then ~park_op leaves the queue if we were destroyed parked.
        if (registered) detail::ctx_unregister(*ctx, this);
    }

    static void on_cancel(detail::ctx_callback* cb) noexcept {
        // At teardown (a context cancelled by a frame being destroyed) the
        // task will never run again and the mutex may be gone (wait_list.hpp):
        // touch nothing; the op's destructor unlinks a waiter still queued.
        if (detail::tearing_down()) return;
        auto* op = static_cast<ctx_park_op*>(cb);
        mutex* m = op->m;
        m->m_queue_lock.lock();
        // Not queued: running (it re-checks err() before parking again), or
        // already popped by an unlocker (granted the lock, or woken and owning
        // the woken bit): leave it alone, the hand-off stands.
        if (!op->waiter.queued) {
            m->m_queue_lock.unlock();
            return;
        }
        m->m_waiters.unlink(&op->waiter);
        // The count equals the list length under m_queue_lock. `starving` is
        // left set even if the list is now empty: only the hand-off path of
        // unlock_slow clears it (see mutex.hpp). relaxed: m_queue_lock orders it.
        m->m_state.fetch_sub(k_waiter, std::memory_order_relaxed);
        op->cancelled = true;
        detail::goroutine* g = op->waiter.g;
        m->m_queue_lock.unlock();
        detail::ready(g);  // orders `cancelled` before the task resumes
    }
};

task<std::error_code> mutex::lock_slow_ctx(context ctx) {
    ctx_park_op op(this, &ctx);
    // Registered before the first park, so a cancel can always reach a parked
    // waiter. Not registered: ctx became done since await_ready checked.
    if (!detail::ctx_register(ctx, &op)) co_return ctx.err();
    op.registered = true;
    std::error_code result;
    for (;;) {
        co_await op;
        if (op.acquired || op.waiter.granted) break;  // ours (granted: handed over in starvation mode)
        if (op.cancelled) {
            result = ctx.err();
            break;
        }
        op.woken = true;  // woken in normal mode: compete again
    }
    op.registered = false;
    detail::ctx_unregister(ctx, &op);  // waits for a callback in flight (it found us not queued)
    co_return result;
}

bool mutex::ctx_lock_awaiter::await_ready() noexcept {
    // x/sync/semaphore's rule: a context already done fails, even if the lock is free.
    if ((m_err = m_ctx->err())) return true;
    return m_mutex->lock_fast();
}

std::coroutine_handle<> mutex::ctx_lock_awaiter::await_suspend(std::coroutine_handle<> h) {
    m_slow = m_mutex->lock_slow_ctx(*m_ctx);
    return std::move(m_slow).operator co_await().await_suspend(h);
}

void mutex::unlock_slow(std::uint32_t s) noexcept {
    if (!(s & k_starving)) {
        // Lock-free pre-check (re-done under the lock): nobody to wake, or the
        // lock was re-taken / a woken waiter is on its way. A waiter that is
        // registering right now needs `locked` set for its CAS; we cleared it,
        // so that CAS fails and the waiter retries the lock itself.
        if ((s >> k_waiter_shift) == 0 || (s & (k_locked | k_woken))) return;
        // From here a waiter may be woken, and unlock may be called from any
        // thread (foreign_entry.hpp). Only here: the pre-check above ends most
        // contended unlocks, and the entry costs a call (8 % on the mutex
        // benchmark when it was taken on every slow unlock).
        const detail::foreign_entry entry;
        m_queue_lock.lock();
        s = m_state.load(std::memory_order_relaxed);
        for (;;) {
            // Nobody to wake, or someone else took the lock / is already on
            // the way to retry / the lock is being handed over: done.
            if ((s >> k_waiter_shift) == 0 || (s & (k_locked | k_woken | k_starving))) {
                m_queue_lock.unlock();
                return;
            }
            if (m_state.compare_exchange_weak(s, (s - k_waiter) | k_woken, std::memory_order_relaxed,
                                              std::memory_order_relaxed))
                break;
        }
        detail::sync_waiter* w = m_waiters.pop_front();  // non-null: the count equals the list length
        w->granted = false;
        detail::goroutine* g = w->g;
        m_queue_lock.unlock();
        detail::ready(g);
        return;
    }
    // Starvation mode: hand the lock straight to the head waiter. The locked
    // bit was dropped by unlock(), but `starving` keeps newcomers out.
    const detail::foreign_entry entry;  // as above
    m_queue_lock.lock();
    detail::sync_waiter* w = m_waiters.pop_front();
    if (!w) {
        // The waiters that made the mutex starve were all cancelled (lock(ctx))
        // since our unlock(): nobody to hand over to. Leave starvation mode;
        // `locked` is already clear, so the mutex is free. A newcomer cannot
        // have taken it meanwhile: `starving` kept it out (it queued instead,
        // and then w would not be null).
        m_state.fetch_and(~k_starving, std::memory_order_relaxed);
        m_queue_lock.unlock();
        return;
    }
    const bool short_wait = detail::monotonic_now_ns() - w->since_ns < k_starvation_threshold_ns;
    s = m_state.load(std::memory_order_relaxed);
    for (;;) {
        std::uint32_t n = (s - k_waiter) | k_locked;
        if (m_waiters.empty() || short_wait) n &= ~k_starving;  // Go: exit starvation mode
        if (m_state.compare_exchange_weak(s, n, std::memory_order_relaxed, std::memory_order_relaxed)) break;
    }
    w->granted = true;
    detail::goroutine* g = w->g;
    m_queue_lock.unlock();
    detail::ready(g);  // ready()'s queue hand-off orders our critical section before its own
}

// ---- rw_mutex::lock(ctx) / lock_shared(ctx) (design notes in rw_mutex.hpp) ----

struct rw_mutex::ctx_park_op : detail::ctx_callback {
    rw_mutex* rw;
    const context* ctx;
    bool shared;
    detail::sync_waiter waiter{};
    bool registered = false;
    bool parked = false;     // linked at some point (guarded by rw->m_lock until we resume)
    bool acquired = false;   // took the lock without parking
    // Gave up because ctx is done: set under rw->m_lock by await_suspend (not
    // parking) or by on_cancel (which unlinked us and readies the task).
    bool cancelled = false;

    ctx_park_op(rw_mutex* m, const context* c, bool sh) noexcept : rw(m), ctx(c), shared(sh) {
        fn = &on_cancel;
        waiter.ctx = c;  // for a destruction of the rw_mutex (wait_list.hpp)
        waiter.ctx_cb = this;
    }
    ctx_park_op(const ctx_park_op&) = delete;
    ctx_park_op& operator=(const ctx_park_op&) = delete;
    ~ctx_park_op() {
        if (registered) detail::ctx_unregister(*ctx, this);  // first: the callback touches the queue
        // Destroyed while parked (runtime shutdown): leave the queue if still linked.
        if (parked && detail::parked_op_must_leave(waiter))  // then rw is alive
            detail::leave_list(rw->m_lock, queue(), waiter);
    }
    detail::wait_list& queue() const noexcept { return shared ? rw->m_readers_q : rw->m_writers_q; }

    bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> h) {
        detail::goroutine* self = detail::prepare_park(h, shared ? "sync.RWMutex.RLock" : "sync.RWMutex.Lock",
                                                       "goro::rw_mutex::lock");
        rw->m_lock.lock();
        if (shared ? rw->try_lock_shared_locked() : rw->try_lock_locked()) {
            rw->m_lock.unlock();
            acquired = true;
            return false;
        }
        // Lost-wake-up re-check: a cancel callback that ran before this
        // critical section found nothing queued; its err store is ordered
        // before it (and it before us through m_lock). One that runs after
        // finds us queued.
        if (ctx->err()) {
            rw->m_lock.unlock();
            cancelled = true;
            return false;
        }
        waiter.g = self;
        parked = true;
        queue().push_back(&waiter);
        rw->m_lock.unlock();  // publication: the frame belongs to the unlocker or the callback now
        return true;
    }
    void await_resume() noexcept { parked = false; }

    static void on_cancel(detail::ctx_callback* cb) noexcept {
        // At teardown: touch nothing, as mutex::ctx_park_op::on_cancel.
        if (detail::tearing_down()) return;
        auto* op = static_cast<ctx_park_op*>(cb);
        rw_mutex* rw = op->rw;
        rw->m_lock.lock();
        // Not queued: not parked yet (it re-checks err() first) or already
        // granted the lock by an unlocker: the grant stands.
        if (!op->waiter.queued) {
            rw->m_lock.unlock();
            return;
        }
        op->queue().unlink(&op->waiter);
        op->cancelled = true;
        // A departing writer may have been all that kept parked readers out.
        detail::sync_waiter* admitted = op->shared ? nullptr : rw->admit_readers_locked();
        detail::goroutine* g = op->waiter.g;
        rw->m_lock.unlock();
        detail::ready_chain(admitted);
        detail::ready(g);  // orders `cancelled` before the task resumes
    }
};

task<std::error_code> rw_mutex::lock_slow_ctx(context ctx, bool shared) {
    ctx_park_op op(this, &ctx, shared);
    if (!detail::ctx_register(ctx, &op)) co_return ctx.err();  // done since await_ready checked
    op.registered = true;
    co_await op;  // one park: an unlocker grants ownership to the task it wakes
    op.registered = false;
    detail::ctx_unregister(ctx, &op);  // waits for a callback in flight
    co_return op.cancelled ? ctx.err() : std::error_code{};
}

bool rw_mutex::ctx_lock_awaiter::await_ready() noexcept {
    if ((m_err = m_ctx->err())) return true;  // already done: fail even if free
    return m_shared ? m_rw->try_lock_shared() : m_rw->try_lock();
}

std::coroutine_handle<> rw_mutex::ctx_lock_awaiter::await_suspend(std::coroutine_handle<> h) {
    m_slow = m_rw->lock_slow_ctx(*m_ctx, m_shared);
    return std::move(m_slow).operator co_await().await_suspend(h);
}

}  // namespace goro
