// Hand-off: the monitor takes a logical processor away from a thread stuck
// in a task (computing, or blocked in a system call outside goro::blocking)
// and gives it to a spare thread, as Go's sysmon retakes a P. The design
// is in the scheduler's essay (runtime/scheduler.cpp, "Hand-off"); the
// machine and its scope are in detail/machine.hpp.
//
// ## The take (monitor thread)                 ## The holder (machine m)
//
//   m->held: p -> p|taking (CAS, seq_cst)        in_sched = 1    (relaxed)
//   membarrier(PRIVATE_EXPEDITED)                compiler barrier
//   in_sched == 0 ? (acquire, a short spin)      held == p ?     (relaxed)
//     no:  held = p (release): backed off          yes: use the P; in_sched = 0 (release)
//     yes: m->lost_g = running; m->lost = 1        no:  the slow path below
//          m->held = 0 (release)
//          spare->held = p, p->owner = spare
//          spare->next_p = p (machines_lock)
//
// membarrier makes every running thread of the process execute a full
// barrier, so the holder's store and load act as if a seq_cst fence
// separated them: either the holder's load sees the mark, or the monitor's
// load sees in_sched set (the classic store-load pair; the holder pays
// two plain stores and a load per scope, no fence). The monitor also
// re-reads schedtick: if the run it timed has ended, it backs off (the new
// run is not stuck).
//
// The holder's slow path (enter_processor_slow): held is p|taking: clear
// in_sched (so that the monitor can proceed), wait until the mark goes, and
// start again; held is 0: the P is lost, for good. A lost machine's task runs on without a processor, as a thread that
// is not one (the global queue, the external registry, I/O started on the
// processor that runs the task next); when it suspends the machine leaves
// the lost count and waits as a spare.
//
// ## Spare machines
//
// Made on demand by the monitor, counted in options::max_threads with the
// blocking pool's threads; kept (parked on a condition variable) for the
// next hand-off, as Go keeps idle Ms, until the runtime stops. At the cap
// there is no hand-off: the stuck processor waits for its task, as it did
// before hand-off existed. Spares never take the blocking pool's last
// thread: while the pool has none, one slot stays free for it, so a
// goro::blocking call never waits for a thread that cannot come.
#include <linux/membarrier.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "detail/cpu_relax.hpp"
#include "detail/machine.hpp"
#include "detail/scheduler_state.hpp"

namespace goro::detail {
namespace {

// How long the monitor waits for the holder to leave a processor_scope
// (or the loop) before it backs off: a scope lasts well under a
// microsecond, the loop is not stuck.
constexpr unsigned k_take_spins = 2000;

std::uintptr_t word(const processor* p) noexcept { return reinterpret_cast<std::uintptr_t>(p); }

bool heavy_fence() noexcept { return ::syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0; }

// A spare machine for a hand-off (reserved: no one else gets it), or null
// at the thread cap or when the runtime stops. Monitor thread.
machine* reserve_spare(runtime_state& rt) noexcept {
    std::lock_guard guard(rt.machines_lock);
    // acquire: pairs with main_finished's release; checked under the lock,
    // so join_machines (after the flag) sees every machine made before it.
    if (rt.stopping.load(std::memory_order_acquire)) return nullptr;
    if (machine* m = rt.spare_head) {
        rt.spare_head = m->spare_next;
        m->spare_next = nullptr;
        m->spare = false;
        m->reserved = true;
        return m;
    }
    {
        std::lock_guard pool_guard(rt.pool.lock);
        const unsigned spares = rt.spare_threads.load(std::memory_order_relaxed);
        // One slot stays for the blocking pool while it has no thread.
        if (spares + 1 + std::max(rt.pool.threads, 1u) > rt.pool.max_threads) return nullptr;
        rt.spare_threads.store(spares + 1, std::memory_order_relaxed);
    }
    machine* m = nullptr;
    try {
        rt.machines.push_back(std::make_unique<machine>(static_cast<unsigned>(rt.machines.size())));
        m = rt.machines.back().get();
        m->reserved = true;
        m->thread = std::thread([&rt, m] { machine_main(rt, *m); });
        ::pthread_setname_np(m->thread.native_handle(), "goro-spare");
        return m;
    } catch (...) {
        // No memory or no thread: no hand-off this time.
        if (m) rt.machines.pop_back();
        std::lock_guard pool_guard(rt.pool.lock);
        rt.spare_threads.store(rt.spare_threads.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
        return nullptr;
    }
}

// The monitor did not use a reserved spare after all.
void release_spare(runtime_state& rt, machine& m) noexcept {
    std::lock_guard guard(rt.machines_lock);
    m.reserved = false;
    m.spare = true;
    m.spare_next = rt.spare_head;
    rt.spare_head = &m;
    m.wake.notify_one();  // the runtime may be stopping meanwhile
}

}  // namespace

processor* enter_processor_slow(processor* p, machine* m) noexcept {
    for (;;) {
        // acquire: the monitor's verdict, with m->lost and m->lost_g
        // written before it.
        const std::uintptr_t h = m->held.load(std::memory_order_acquire);
        if (h == word(p)) return p;  // the monitor backed off (in_sched still set)
        // release: as processor_scope's end; lets the monitor proceed.
        m->in_sched.store(false, std::memory_order_release);
        if (h != (word(p) | k_held_taking)) {
            GORO_ASSERT(h == 0 && m->lost);
            return nullptr;  // handed off: never touch p again
        }
        // The monitor is deciding: wait for its verdict (a membarrier and a
        // few loads), then go through the pair again.
        for (unsigned spins = 0; m->held.load(std::memory_order_relaxed) == h; ++spins) {
            if (spins < 1000)
                cpu_relax();
            else
                std::this_thread::yield();
        }
        // The fast half again; its verdict is read again above, with
        // acquire (the monitor's writes before it).
        (void)enter_processor_fast(p, m);
    }
}

bool holds_processor(const processor& p) noexcept {
    const machine* m = current_machine();
    return m && (m->held.load(std::memory_order_relaxed) & ~k_held_taking) == word(&p);
}

bool hand_off(runtime_state& rt, processor& p, handoff_record& out) noexcept {
    if (rt.stopping.load(std::memory_order_relaxed)) return false;
    if (!p.netpoll || !p.netpoll->movable()) return false;
    machine* old = p.owner.load(std::memory_order_acquire);
    if (!old) return false;
    std::uintptr_t expected = word(&p);
    // relaxed: a hint; the pair below decides.
    if (old->in_sched.load(std::memory_order_relaxed)) return false;  // in scheduler code: not stuck
    // relaxed: compared only (the run the monitor timed).
    const std::uint64_t tick = p.schedtick.load(std::memory_order_relaxed);
    machine* spare = reserve_spare(rt);
    if (!spare) {
        if (!rt.stopping.load(std::memory_order_relaxed))
            rt.handoffs_refused.fetch_add(1, std::memory_order_relaxed);
        return false;
    }
    // seq_cst: the store half of the asymmetric pair (see the top).
    if (!old->held.compare_exchange_strong(expected, word(&p) | k_held_taking, std::memory_order_seq_cst)) {
        release_spare(rt, *spare);
        return false;
    }
    bool in_task = false;
    if (heavy_fence()) {
        for (unsigned spins = 0; spins < k_take_spins; ++spins) {
            // acquire: the holder's release clear, publishing what it did to p.
            if (!old->in_sched.load(std::memory_order_acquire)) {
                in_task = true;
                break;
            }
            cpu_relax();
        }
    }
    // relaxed: the holder writes schedtick only in scheduler code and
    // scopes, which cannot run now that in_sched was seen clear.
    if (!in_task || p.schedtick.load(std::memory_order_relaxed) != tick) {
        // release: the holder's slow path acquires it and goes on.
        old->held.store(word(&p), std::memory_order_release);
        release_spare(rt, *spare);
        return false;
    }
    // The processor is the monitor's. The old machine's task runs on
    // without it (machine::lost_g stands in for `running` there).
    goroutine* g = p.running.load(std::memory_order_relaxed);
    // relaxed: published by the release store of owner below.
    old->lost_g.store(g, std::memory_order_relaxed);
    old->lost = true;
    // relaxed: published with lost by the release store of held below.
    old->orphan_pending.store(true, std::memory_order_relaxed);
    out.m = old;
    // Never dereferenced here: `running` may name a goroutine that parked
    // just before its thread was descheduled, and was then run, finished and
    // freed on another processor (the pin protocol in runtime/sysmon.cpp).
    out.g = g;
    // seq_cst: counted before p can go idle under its new holder (the
    // deadlock check reads it under sched_lock).
    rt.nlost.fetch_add(1, std::memory_order_seq_cst);
    p.running.store(nullptr, std::memory_order_relaxed);
    // release: publishes lost/lost_g to the old machine, whose slow path
    // acquires held.
    old->held.store(0, std::memory_order_release);
    // relaxed: the spare learns of p under machines_lock below, which
    // publishes these and p's state.
    spare->held.store(word(&p), std::memory_order_relaxed);
    p.owner.store(spare, std::memory_order_relaxed);
    {
        std::lock_guard guard(rt.machines_lock);
        spare->next_p = &p;
        spare->next_from = old;
    }
    spare->wake.notify_one();
    rt.handoffs.fetch_add(1, std::memory_order_relaxed);
    return true;
}

processor* wait_as_spare(runtime_state& rt, machine& m) noexcept {
    std::unique_lock guard(rt.machines_lock);
    // Not when already listed: a spare made for a hand-off that the monitor
    // then called off was put on the list by release_spare, maybe before
    // its thread got here.
    if (!m.spare && !m.reserved && !m.next_p) {
        m.spare = true;
        m.spare_next = rt.spare_head;
        rt.spare_head = &m;
    }
    // acquire: pairs with main_finished's release (wake_spares notifies
    // under this lock after it).
    m.wake.wait(guard, [&] {
        return m.next_p != nullptr || (!m.reserved && rt.stopping.load(std::memory_order_acquire));
    });
    if (m.next_p) {
        m.reserved = false;
        m.adopted_from = std::exchange(m.next_from, nullptr);
        return std::exchange(m.next_p, nullptr);
    }
    // Stopping: leave the spare list for good.
    for (machine** link = &rt.spare_head; *link; link = &(*link)->spare_next) {
        if (*link == &m) {
            *link = m.spare_next;
            break;
        }
    }
    m.spare = false;
    m.spare_next = nullptr;
    return nullptr;
}

void hand_over_orphan(machine& m, netpoll_driver& driver) noexcept {
    machine* from = std::exchange(m.adopted_from, nullptr);
    if (!from) return;  // not a hand-off (the first processor of a spare made at start-up)
    from->orphan = driver.take_orphan();
    // release: publishes orphan to the old machine (retire_orphan).
    from->orphan_pending.store(false, std::memory_order_release);
    from->orphan_pending.notify_one();
}

void retire_orphan(machine& m) noexcept {
    // acquire: pairs with hand_over_orphan's release. The new holder is
    // running (woken for the hand-off) and waits for nothing of ours.
    while (m.orphan_pending.load(std::memory_order_acquire)) m.orphan_pending.wait(true, std::memory_order_acquire);
    if (std::unique_ptr<netpoll_driver> orphan = std::move(m.orphan)) orphan->retire();
}

void wake_spares(runtime_state& rt) noexcept {
    std::lock_guard guard(rt.machines_lock);
    for (auto& m : rt.machines) m->wake.notify_all();
}

void join_machines(runtime_state& rt) noexcept {
    const machine* self = current_machine();
    for (;;) {
        std::vector<std::thread> threads;
        {
            std::lock_guard guard(rt.machines_lock);
            for (auto& m : rt.machines)
                if (m.get() != self && m->thread.joinable()) threads.push_back(std::move(m->thread));
        }
        if (threads.empty()) return;
        for (std::thread& t : threads) t.join();
    }
}

bool thread_cap_reached_locked(const runtime_state& rt) noexcept {
    // relaxed: written under pool.lock, which the caller holds.
    return rt.pool.threads + rt.spare_threads.load(std::memory_order_relaxed) >= rt.pool.max_threads;
}

}  // namespace goro::detail
