// timer_heap — a processor's pending timers, ordered by deadline.
//
// Each processor owns one heap; a timer is added to the heap of the processor
// its task runs on, and that processor fires it (on a scheduling tick, or by
// waking from park at the heap's earliest deadline). Any thread may remove a
// timer (stop, reset, a cancelled sleep), so the heap has its own small lock.
//
// Another processor may fire a *stealable* node (timer_node::stealable) of
// this heap once it is due, as Go's stealWork runs other Ps' timers: a
// processor about to park fires the timers that their owners have left due
// for a while (runtime/stealing.cpp, "Timers of other processors"). A node is
// stealable when its fire may run on any thread as soon as the node is in
// the heap: nothing of its arming runs after add() (goro::sleep), or its
// state has a lock that orders a fire against everything else (time.cpp's
// timer_state). The context-bound sleep and select's timeout touch their
// frame after add(), counting on their processor being busy with them until
// they return: they stay the owner's.
//
// Timer nodes live in the awaiting frame or in a timer's shared state: no
// allocation per timer beyond the heap vector's amortized growth.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <mutex>
#include <vector>

#include "spin_mutex.hpp"

namespace goro::detail {

/// Monotonic clock in nanoseconds (CLOCK_MONOTONIC, the clock behind std::chrono::steady_clock).
std::int64_t monotonic_now_ns() noexcept;

class timer_heap;

struct timer_node {
    static constexpr std::uint32_t k_not_queued = std::numeric_limits<std::uint32_t>::max();

    std::int64_t when = 0;                       // deadline, monotonic ns
    void (*fire)(timer_node* self) noexcept = nullptr;  // runs on the firing processor, outside the lock
    // Guarded by the lock of the heap holding the node. 32 bits, so that
    // `stealable` fits beside it: the node lives in a sleeping task's frame,
    // and 8 more bytes there made benchmarks/timers 7 % slower at 2
    // processors (71.6 -> 77.1 ms, 9 interleaved runs; a frame size class).
    std::uint32_t index = k_not_queued;
    // Another processor may fire it (see the file's comment). Set before
    // add(), never changed while queued.
    bool stealable = false;
    std::uint64_t sequence = 0;                  // FIFO among equal deadlines
    // Which heap holds the node (set by add, cleared when it fires or is removed).
    std::atomic<timer_heap*> heap{nullptr};
};

// The size index's comment speaks of (5 words on LP64).
static_assert(sizeof(void*) != 8 || sizeof(timer_node) == 40, "timer_node grew: it lives in every sleeping frame");

class timer_heap {
public:
    static constexpr std::int64_t k_never = std::numeric_limits<std::int64_t>::max();

    /// Queues `node` (which must not be queued anywhere) to fire at node->when.
    void add(timer_node* node);

    /// Removes a queued node. Returns false when it was not queued (already
    /// fired, being fired, or never added).
    static bool remove(timer_node* node) noexcept;

    /// Fires every node whose deadline is <= now. Returns how many fired.
    /// The owner's call.
    unsigned run_expired(std::int64_t now) noexcept { return run_expired(now, false); }

    /// Another processor's call: fires the due nodes while the earliest
    /// one is stealable, stopping at the first that is not (its owner
    /// fires it, and those behind it). Returns how many fired.
    unsigned steal_expired(std::int64_t now) noexcept { return run_expired(now, true); }

    /// Earliest deadline, k_never when empty. Any thread, racy (relaxed).
    std::int64_t next_deadline() const noexcept { return m_next.load(std::memory_order_relaxed); }

    /// Drops every node without firing it (runtime shutdown).
    void clear() noexcept;

    std::size_t size() const noexcept;

private:
    unsigned run_expired(std::int64_t now, bool stealable_only) noexcept;
    bool remove_locked(timer_node* node) noexcept;
    bool less(const timer_node* a, const timer_node* b) const noexcept {
        return a->when < b->when || (a->when == b->when && a->sequence < b->sequence);
    }
    void sift_up(std::size_t i) noexcept;
    void sift_down(std::size_t i) noexcept;
    void publish_next() noexcept {
        m_next.store(m_nodes.empty() ? k_never : m_nodes.front()->when, std::memory_order_relaxed);
    }

    // Short sections (a heap step), contended by the processors that fire
    // this one's timers (steal_expired) and by removals from any thread: a
    // spinning lock, which keeps worker threads out of the kernel.
    mutable spin_mutex m_lock;
    std::vector<timer_node*> m_nodes;  // binary min-heap; guarded by m_lock
    std::uint64_t m_sequence = 0;      // guarded by m_lock
    std::atomic<std::int64_t> m_next{k_never};
};

}  // namespace goro::detail
