// chan_core — the type-independent parts of a goro channel: the per-channel
// lock, the waiter record (Go's sudog) and the FIFO wait queue. Internal.
//
// See runtime/channel.hpp for the design essay and the invariants.
#pragma once

#include <atomic>
#include <coroutine>
#include <cstddef>
#include <cstdint>

#include "../error.hpp"
#include "cpu_relax.hpp"
#include "foreign_entry.hpp"
#include "goroutine.hpp"
#include "intrusive_fifo.hpp"

namespace goro::detail {

void chan_lock_backoff() noexcept;  // sched_yield; in channel.cpp (keeps <sched.h> out of the header)

/// A test-and-test-and-set spinlock with exponential backoff. Channel
/// critical sections are a few dozen instructions (a pointer unlink, one move
/// of T), so spinning beats a futex-based std::mutex on the uncontended and
/// lightly contended paths that the benchmarks exercise (measured: see
/// benchmarks/chan_throughput.cpp). A holder can be pre-empted by the OS, so
/// after a bounded spin we yield the thread instead of burning the core.
/// Unfair by design: throughput over the order in which threads get the lock
/// (goroutines queue FIFO in the channel's wait queues, not on this lock).
class chan_lock {
public:
    void lock() noexcept {
        // Test, then test-and-set: a lock seen held is not written, so the
        // holder keeps its cache line in the exclusive state for its unlock
        // and its next lock (chan_throughput, 2 processors, on the project's
        // Intel Xeon VM: 6.2 -> 9.7 Mmsg/s, 1.57x; half the samples had been
        // on this exchange). relaxed: a hint; the exchange decides.
        // acquire: pairs with the release in unlock(); everything the previous
        // holder wrote under the lock is visible to us.
        if (!m_locked.load(std::memory_order_relaxed) && !m_locked.exchange(true, std::memory_order_acquire)) return;
        lock_slow();
    }
    bool try_lock() noexcept {
        return !m_locked.load(std::memory_order_relaxed) && !m_locked.exchange(true, std::memory_order_acquire);
    }
    void unlock() noexcept { m_locked.store(false, std::memory_order_release); }
    /// True while some thread holds the lock (which one is not recorded): for
    /// GORO_ASSERT in functions that require it held. relaxed: a check only.
    bool is_locked() const noexcept { return m_locked.load(std::memory_order_relaxed); }

private:
    void lock_slow() noexcept;  // in channel.cpp: backoff with a per-thread patience
    // Backoff bounds, in cpu_relax() calls (one PAUSE is ~19 ns on the AMD
    // Zen VM we measured these on, ~15 ns on the Intel Xeon VM). Backing off
    // exponentially, without reading the lock's cache line, lets the
    // holder's core take the lock again for its next operation while the
    // line is still local, instead of losing it to a waiter polling it after
    // every release: on chan_throughput (4 senders, 4 receivers, 2
    // processors, AMD) a cap of 1 gave 7-12 Mmsg/s, 64 gave 17, 128 gave
    // 18.5-19.3, 256 gave 19-20; 128 bounds one wait at ~2.4 us. The
    // patience (lock_slow) keeps the cap between waits under contention.
    static constexpr unsigned k_max_delay = 128;
    // After this many PAUSEs in one acquisition, yield the thread instead:
    // the holder is probably pre-empted (~40 us).
    static constexpr unsigned k_spin_budget = 2048;
    std::atomic<bool> m_locked{false};
};

/// The part of a select shared by all its case waiters: who won.
/// `done` is 0 while the select is parked and undecided; the first waker
/// (a channel operation, close, or the select's timer) CASes it to the
/// winning case index + 1. Losers leave the waiter alone (and the channel
/// operation that lost unlinks that waiter and looks for another partner).
struct select_core {
    // Written by wakers (CAS, under the lock of the waker's channel, or by the
    // timer fire on the select's own processor); read by the select after it
    // resumes (ordered by ready()). acq_rel on the CAS: the winner's later
    // writes into the case slot are ordered by the ready() hand-off anyway; acq_rel
    // keeps the word itself coherent across the racing channels' locks.
    std::atomic<int> done{0};
};

/// A goroutine parked on a channel (Go's sudog). Lives in the awaiting frame.
/// All fields except `g`/`sel`/`index` (set before the waiter is published) are
/// guarded by the lock of the channel whose queue holds the waiter.
struct chan_waiter {
    chan_waiter* next = nullptr;
    chan_waiter* prev = nullptr;
    goroutine* g = nullptr;
    // Sender: points at the T to send (the waker moves from it).
    // Receiver: points at the std::optional<T> to fill (the waker emplaces into it).
    void* elem = nullptr;
    select_core* sel = nullptr;  // null for a plain send/recv
    int index = 0;               // the case index, for select
    bool queued = false;         // linked into a wait queue (guarded by the channel lock)
    // Set by the waker before ready(): true = the communication happened,
    // false = woken by close. Read by the owner after it resumes.
    bool success = false;
};

/// A FIFO of parked waiters. Guarded by the owning channel's lock.
struct wait_queue : intrusive_fifo<chan_waiter> {
    /// Removes and returns the first waiter that can still be completed: a
    /// plain waiter, or a select waiter whose select we win (CAS done 0 ->
    /// index+1). A select waiter whose select was already won elsewhere is
    /// dropped from the queue (its owner sees queued == false and skips it).
    chan_waiter* dequeue() noexcept {
        for (;;) {
            chan_waiter* w = pop_front();
            if (!w) return nullptr;
            if (w->sel) {
                int expected = 0;
                if (!w->sel->done.compare_exchange_strong(expected, w->index + 1, std::memory_order_acq_rel,
                                                          std::memory_order_relaxed))
                    continue;  // someone else has won the race to complete this select
            }
            return w;
        }
    }
};

/// Step 1 of every parking protocol (channels, select, the sync primitives):
/// the current goroutine, with its resume point and wait reason set, ready to
/// be published to a waker. Throws no_runtime outside a runtime.
inline goroutine* prepare_park(std::coroutine_handle<> h, const char* reason, const char* api) {
    goroutine* self = current_goroutine();
    if (!self) throw no_runtime(api);
    self->resume_point = h;  // before publishing self
    // note_waiting's g, not self: see there.
    return note_waiting(self, reason);
}

/// Wakes a list of waiters collected under a lock and chained through `next`
/// after they were unlinked (a close, a wait group reaching zero, a
/// broadcast). Reads `next` and `g` before ready(): after it the waiter's
/// frame may already be running, and reusing the record, on another thread.
template <typename Waiter>
void ready_chain(Waiter* list) noexcept {
    while (list) {
        Waiter* next = list->next;
        goroutine* g = list->g;
        ready_local(g);
        list = next;
    }
}

/// Per-thread fast random numbers (select's poll order). Not inlined: never
/// cache a thread_local's address across a co_await.
std::uint32_t fast_rand() noexcept;

}  // namespace goro::detail
