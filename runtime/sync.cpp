// The non-template parts of the sync primitives: goro::mutex's contended
// paths (see the design notes in runtime/mutex.hpp) and the fatal-error exit
// shared by the mutexes.
#include <cstdio>
#include <cstdlib>

#include "detail/timer_heap.hpp"
#include "mutex.hpp"
#include "run.hpp"

namespace goro {

namespace detail {

void sync_fatal(const char* msg) noexcept {
    std::fprintf(stderr, "fatal error: %s\n", msg);
    std::fflush(stderr);
    std::_Exit(2);
}

}  // namespace detail

bool mutex::lock_spin() noexcept {
    if (try_lock()) return true;
    // Spin briefly only when another processor may be running the holder
    // (Go's sync_runtime_canSpin: multicore, few iterations). With one
    // processor the holder is parked or queued behind us: spinning is useless.
    static thread_local unsigned cached_procs = 0;  // read/written by this thread only, never across a co_await
    if (cached_procs == 0) {
        try {
            cached_procs = procs();
        } catch (...) {
            cached_procs = 1;
        }
    }
    if (cached_procs < 2) return false;
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
    detail::sync_waiter waiter{};
    bool woken = false;     // we were woken once (normal mode): we own the woken bit, queue at the front
    bool acquired = false;  // took the lock without parking
    bool parked = false;

    explicit park_op(mutex* mu) noexcept : m(mu) {}
    park_op(const park_op&) = delete;
    park_op& operator=(const park_op&) = delete;
    ~park_op() {
        if (parked) {  // destroyed while parked (runtime shutdown): leave the queue
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

void mutex::unlock_slow(std::uint32_t s) noexcept {
    if (!(s & k_starving)) {
        // Lock-free pre-check (re-done under the lock): nobody to wake, or the
        // lock was re-taken / a woken waiter is on its way. A waiter that is
        // registering right now needs `locked` set for its CAS; we cleared it,
        // so that CAS fails and the waiter retries the lock itself.
        if ((s >> k_waiter_shift) == 0 || (s & (k_locked | k_woken))) return;
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
    m_queue_lock.lock();
    detail::sync_waiter* w = m_waiters.pop_front();
    if (!w) {  // cannot happen (starving implies waiters); leave the mutex usable
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

}  // namespace goro
