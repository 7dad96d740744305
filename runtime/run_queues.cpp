// run_queues — the runtime's shared queues and lists, under sched_lock: the
// global run queue (overflow, yields, goroutines readied by threads that
// are not processors) and the idle list of parked processors; waking a
// processor (wakep, notify) and readying from outside. The protocol that
// ties them to the processors' deques (who spins, who parks, the
// lost-wake-up invariant) is the essay at the top of scheduler.cpp.
#include <algorithm>
#include <cstddef>
#include <mutex>

#include "detail/fatal.hpp"
#include "detail/invariant.hpp"
#include "detail/netpoll.hpp"
#include "detail/scheduler_internal.hpp"
#include "detail/scheduler_state.hpp"
#include "detail/sysmon.hpp"

namespace goro::detail {

// ---- the global queue (sched_lock held) ----

goroutine* global_pop_locked(runtime_state& rt) noexcept {
    GORO_ASSERT(rt.sched_lock.held_by_current_thread());
    goroutine* g = rt.global_head;
    if (!g) return nullptr;
    rt.global_head = g->queue_next;
    if (!rt.global_head) rt.global_tail = nullptr;
    g->queue_next = nullptr;
    rt.global_size.store(rt.global_size.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
    return g;
}

// global_take's half past its emptiness check (scheduler_internal.hpp).
// A transit (processor::transit_epoch): the global queue may hold
// goroutines that never ran (push_local_overflow), and a dump reads the
// deques before the global queue. The first one is registered before it
// runs; the rest wait in p's deque.
goroutine* global_take_slow(processor& p, std::size_t batch) {
    runtime_state& rt = p.rt;
    const bool began = begin_transit(p);
    goroutine* first = nullptr;
    std::size_t i = 1;
    {
        std::lock_guard guard(rt.sched_lock);
        first = global_pop_locked(rt);
        if (first) {
            // At most the deque's free room, so that every push below
            // succeeds: p owns the deque, so its bottom is exact here, and
            // its top only grows (thieves), so the room seen only widens.
            const std::size_t room = p.deque.capacity() - p.deque.size_hint();
            const std::size_t share =
                std::min({batch, rt.global_size.load(std::memory_order_relaxed) / rt.nprocs + 1, room + 1});
            for (; i < share; ++i) {
                // Unlinked (its queue_next written) before the push
                // publishes it: from the push on, a thief may steal it, run
                // it to its end and free its frame (TSan caught a write
                // after the push racing with that free).
                goroutine* g = global_pop_locked(rt);
                if (!g) break;
                [[maybe_unused]] const bool pushed = p.deque.push(g);
                GORO_ASSERT(pushed);
            }
        }
    }
    if (first) {
        register_if_new(p, first);
        stat_add(p.stats.global_taken, i);
    }
    end_transit(p, began);
    return first;
}

// ---- waking processors ----

void notify(processor& p) noexcept {
    // acq_rel: pairs with the owner's clearing store, so a wake-up sent after
    // the owner cleared the flag always writes the eventfd again.
    if (!p.wake_pending.exchange(true, std::memory_order_acq_rel)) p.netpoll->wake();
}

namespace {

// Takes an idle processor off the list (sched_lock held).
processor* pop_idle_locked(runtime_state& rt) noexcept {
    GORO_ASSERT(rt.sched_lock.held_by_current_thread());
    processor* p = rt.idle_head;
    if (!p) return nullptr;
    rt.idle_head = p->idle_next;
    p->idle_next = nullptr;
    p->idle = false;
    rt.npidle.store(rt.npidle.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
    return p;
}

}  // namespace

void remove_idle_locked(runtime_state& rt, processor& p) noexcept {
    GORO_ASSERT(rt.sched_lock.held_by_current_thread());
    processor** link = &rt.idle_head;
    while (*link && *link != &p) link = &(*link)->idle_next;
    if (*link) {
        *link = p.idle_next;
        p.idle_next = nullptr;
        p.idle = false;
        rt.npidle.store(rt.npidle.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
    }
}

// wakep's half past its two cheap checks (scheduler_internal.hpp).
void wakep_slow(runtime_state& rt) noexcept {
    unsigned expected = 0;
    // seq_cst: the counter is the rendezvous of the store-load race described
    // in the essay (nspinning vs. the queues).
    if (!rt.nspinning.compare_exchange_strong(expected, 1, std::memory_order_seq_cst)) return;
    processor* p;
    {
        std::lock_guard guard(rt.sched_lock);
        p = pop_idle_locked(rt);
        if (p) p->handed_spinning = true;
    }
    if (!p) {
        rt.nspinning.fetch_sub(1, std::memory_order_seq_cst);
        return;
    }
    sysmon_kick(rt);  // p left the idle list: the monitor may sleep on "all idle"
    notify(*p);
}

void register_goroutine_or_die(processor& p, goroutine* g) noexcept {
    try {
        p.goroutines.insert(g);
    } catch (const std::bad_alloc&) {
        fatal_exit("fatal error: runtime: out of memory (growing the registry of live goroutines)\n");
    }
}

// push_local's overflow: moves half of the deque (and g) to the global
// queue: a transit (processor::transit_epoch). They stay unregistered (a
// dump reads the global queue after the deques): registering them here
// could fail for memory in a ready, which cannot report it.
[[gnu::noinline]] void push_local_overflow(processor& p, goroutine* g) noexcept {
    runtime_state& rt = p.rt;
    goroutine* batch[processor::k_deque_capacity / 2 + 1];
    std::size_t n = 0;
    const bool began = begin_transit(p);
    while (n < processor::k_deque_capacity / 2) {
        goroutine* taken = nullptr;
        auto r = p.deque.steal(taken);
        if (r == decltype(p.deque)::steal_result::success)
            batch[n++] = taken;
        else if (r == decltype(p.deque)::steal_result::empty)
            break;
    }
    batch[n++] = g;
    {
        std::lock_guard guard(rt.sched_lock);
        for (std::size_t i = 0; i < n; ++i) global_push_locked(rt, batch[i]);
    }
    end_transit(p, began);
}

void global_push_locked(runtime_state& rt, goroutine* g) noexcept {
    GORO_ASSERT(rt.sched_lock.held_by_current_thread());
    g->queue_next = nullptr;
    if (rt.global_tail)
        rt.global_tail->queue_next = g;
    else
        rt.global_head = g;
    rt.global_tail = g;
    rt.global_size.store(rt.global_size.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

// ready() and friends on a thread that is not a processor (inside a
// foreign_entry, or a legacy caller outside any). Once shutdown has closed
// the runtime nothing is queued: every goroutine still suspended is about to
// be destroyed, and the caller may touch none of them after unlocking.
void ready_from_outside(goroutine* g) noexcept {
    runtime_state* rt = current_runtime();
    if (!rt) return;
    // seq_cst: the load half of the Dekker pair with the entry's increment
    // (foreign_entry.hpp).
    if (rt->closed.load(std::memory_order_seq_cst)) return;
    ready_external(*rt, g);
}

void ready_external(runtime_state& rt, goroutine* g) noexcept {
    processor* to_wake = nullptr;
    {
        std::lock_guard guard(rt.sched_lock);
        global_push_locked(rt, g);
        // Under sched_lock: a processor about to park re-checks the global
        // queue under this lock after leaving the spinning count (see essay).
        if (rt.nspinning.load(std::memory_order_seq_cst) == 0) {
            to_wake = pop_idle_locked(rt);
            if (to_wake) {
                to_wake->handed_spinning = true;
                rt.nspinning.fetch_add(1, std::memory_order_seq_cst);
            }
        }
    }
    if (to_wake) {
        sysmon_kick(rt);  // it left the idle list: the monitor may sleep on "all idle"
        notify(*to_wake);
    }
}

}  // namespace goro::detail
