// machine — an OS thread that may hold a logical processor (Go's M), and the
// scope through which task code touches "its" processor. Internal; the
// hand-off protocol itself is in runtime/handoff.cpp, the design in the
// scheduler's essay (runtime/scheduler.cpp, "Hand-off").
//
// A processor (P) is held by one machine at a time (processor::owner). The
// monitor may take a P away from a machine whose task has run longer than a
// time slice and give it to a spare machine; the old machine's task runs on
// until it suspends, and from the moment the P is taken that machine must
// never touch the P again: not its runnext, deque, timers' owner side,
// registry, counters or netpoll. Task code reaches the P (ready, spawn, a
// timer, an I/O start, a join) only inside a processor_scope, which
// confirms ownership and keeps the monitor from taking the P until it ends.
//
// The fast path is an asymmetric Dekker pair: the machine stores its
// `in_sched` flag (relaxed), a compiler barrier, then loads its own `held`
// word (relaxed); the monitor CASes held to "taking", issues
// membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) (which makes every running
// thread of the process execute a full barrier), then loads in_sched. Either
// the machine sees the monitor's mark, or the monitor sees the flag set and
// backs off. The scheduler loop keeps in_sched set whenever it is not
// running a task, so only a machine inside task code can lose its P.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <source_location>
#include <thread>

#include "invariant.hpp"
#include "netpoll.hpp"
#include "scheduler_state.hpp"

namespace goro::detail {

/// machine::held's mark: the monitor is taking the processor in the other
/// bits from this machine (processors are at least 2-aligned).
inline constexpr std::uintptr_t k_held_taking = 1;

struct machine {
    explicit machine(unsigned i) noexcept : index(i) {}

    // The two words of the Dekker pair, on a line of their own that only
    // this thread and (rarely) the monitor write: a scope touches nothing
    // that other threads write often.
    //
    // Set while this thread is *not* in task code outside a
    // processor_scope: the scheduler loop, a scope, a spare thread. Only
    // this thread writes it (relaxed set, release clear: a clear publishes
    // what it did to the P to the monitor, which acquires it before it
    // hands the P on). Starts set: a spare thread is not in a task.
    alignas(64) std::atomic<bool> in_sched{true};
    // The processor this machine holds (a processor*), with k_held_taking
    // or'ed in while the monitor is taking it; 0 when it holds none (a
    // spare; a lost machine). The monitor writes it (CAS to taking, then
    // its verdict, release; a spare's before it is woken); this thread
    // reads it relaxed on the fast path, acquire on the slow one.
    std::atomic<std::uintptr_t> held{0};

    const unsigned index;  // 0: the thread that called run()

    // ---- after the monitor took this machine's P (lost) ----
    // Written by the monitor before its release store of the P's new owner
    // (the machine acquires owner on its slow path before reading them),
    // then by this thread only, until it becomes a spare.
    bool lost = false;
    // The goroutine this thread runs without a P (null when it is not
    // lost). Atomic (relaxed) because the monitor compares it to see a
    // reported stall end; it never dereferences it after the hand-off.
    std::atomic<goroutine*> lost_g{nullptr};
    // The kernel's id of this thread (gettid), for the monitor's reports.
    std::atomic<int> tid{0};

    // ---- what the new holder leaves to this thread (netpoll.hpp, take_orphan) ----
    // Set by the monitor before it publishes the hand-off (held = 0,
    // release); cleared (release) by the thread that took the P, once it
    // has written `orphan` (an io_uring processor's old ring, or null).
    // This thread, its task suspended, waits for the clear (acquire)
    // before anything else, retires the orphan and destroys it.
    std::atomic<bool> orphan_pending{false};
    std::unique_ptr<netpoll_driver> orphan;
    // This thread's own: the machine whose P it was last handed (taken
    // from next_from), until it has given that machine its orphan.
    machine* adopted_from = nullptr;

    // ---- guarded by runtime_state::machines_lock ----
    machine* spare_next = nullptr;  // in runtime_state's spare list
    bool spare = false;             // in the spare list
    bool reserved = false;          // popped by the monitor, which will give it next_p
    processor* next_p = nullptr;    // the processor handed to this spare
    machine* next_from = nullptr;   // the machine that lost it
    bool exited = false;
    std::condition_variable wake;   // a spare waits here (with machines_lock)

    std::thread thread;  // empty for machine 0 (run()'s thread)
};

/// The calling thread's machine, or nullptr (not a processor thread).
machine* current_machine() noexcept;

/// The entry's fast half: the light half of the asymmetric fence (see the
/// top of this file), written here once for every entry (processor_scope,
/// the fork-join and ready fast paths, netpoll_scope, the scheduler loop's
/// return from a task). For a thread in task code (in_sched clear) whose
/// machine may hold `p`: sets in_sched and reads held. True when m holds
/// p: in_sched stays set until leave_processor. False when the monitor is
/// taking or took p: in_sched is still set, and the caller either calls
/// enter_processor_slow (which waits out the monitor or finds p lost) or
/// leaves at once (leave_processor) and takes the path under a
/// processor_scope. Inline: the hot paths make no call for it.
[[gnu::always_inline]] inline bool enter_processor_fast(processor* p, machine* m) noexcept {
    // The light half of the asymmetric fence: relaxed store, compiler
    // barrier, relaxed load; the monitor's membarrier orders them as a full
    // fence would. relaxed store: only this thread writes in_sched.
    m->in_sched.store(true, std::memory_order_relaxed);
    std::atomic_signal_fence(std::memory_order_seq_cst);
    return m->held.load(std::memory_order_relaxed) == reinterpret_cast<std::uintptr_t>(p);
}

/// Slow half of the entry: enter_processor_fast returned false (m->held did
/// not name `p`; in_sched is set). Returns p, with in_sched set, when m
/// still holds it (the monitor backed off); nullptr, with in_sched clear,
/// when p was taken from m (m->lost is then set). Out of line (handoff.cpp).
processor* enter_processor_slow(processor* p, machine* m) noexcept;

/// Ends what an entry began (enter_processor_fast returned true, or
/// enter_processor_slow returned p). release: what the thread did to the P
/// happens before the monitor, which acquires in_sched, hands it to
/// another thread.
[[gnu::always_inline]] inline void leave_processor(machine* m) noexcept {
    m->in_sched.store(false, std::memory_order_release);
}

/// The hot paths' entry: processor_scope's own (enter_processor_fast,
/// above), for the case they meet: task code (in_sched clear)
/// on a thread that holds `p`. True in that case: in_sched is then set, and
/// leave_processor ends it. False with nothing changed otherwise (no
/// processor, inside the loop or another scope, or the monitor is taking or
/// took p): the caller then takes the path under a processor_scope, which
/// handles each case. Inline, and without the scope's flags, so that the
/// fast paths make no call for the scope and keep nothing for its exit
/// (issue 14: their register saves).
[[gnu::always_inline]] inline bool enter_from_task(processor* p, machine* m) noexcept {
    // relaxed: only this thread writes in_sched.
    if (!p || m->in_sched.load(std::memory_order_relaxed)) return false;
    if (enter_processor_fast(p, m)) [[likely]]
        return true;
    // Leave as a scope leaves; the scope then enters again and waits for
    // the monitor or finds p lost.
    leave_processor(m);
    return false;
}

/// Task code's access to the calling thread's processor: `get()` is the
/// processor, held until the scope ends, or nullptr when the thread holds
/// none (not a processor thread, or its processor was handed off: then
/// `lost()`). Nests freely (an inner scope, or the scheduler loop, already
/// holds it). Must not be held across a suspension. Its entry is inline
/// (enter_processor_fast) but for the monitor's cases (enter_processor_slow).
class processor_scope {
public:
    processor_scope(processor* p, machine* m) noexcept : m_m(m) {
        if (!p) return;
        // relaxed: only this thread writes in_sched.
        if (m->in_sched.load(std::memory_order_relaxed)) {
            // Nested inside the loop or another scope: ownership was
            // confirmed there and cannot change while the flag is set.
            m_p = p;
            GORO_ASSERT((m->held.load(std::memory_order_relaxed) & ~k_held_taking) ==
                        reinterpret_cast<std::uintptr_t>(p));
            return;
        }
        m_entered = true;
        if (enter_processor_fast(p, m)) [[likely]] {
            m_p = p;
            return;
        }
        // The monitor is taking p or took it (in_sched set, as
        // enter_processor_fast left it): its verdict, out of line.
        m_p = enter_processor_slow(p, m);
        m_entered = m_p != nullptr;
        m_lost = m_p == nullptr;
    }
    ~processor_scope() {
        if (m_entered) leave_processor(m_m);
    }
    processor_scope(const processor_scope&) = delete;
    processor_scope& operator=(const processor_scope&) = delete;

    processor* get() const noexcept { return m_p; }
    /// The thread had a processor, and it was handed off: the task runs on
    /// without one (machine::lost_g).
    bool lost() const noexcept { return m_lost; }

private:
    processor* m_p = nullptr;
    machine* m_m;
    bool m_entered = false;
    bool m_lost = false;
};

/// True when the calling thread's machine holds p (or is the one the
/// monitor is trying to take it from). For GORO_ASSERT: "a thread that lost
/// its processor never touches it again".
bool holds_processor(const processor& p) noexcept;

// ---- runtime/handoff.cpp ----

/// The monitor: p's task has run longer than a time slice. Takes p from its
/// machine and gives it to a spare one (made on demand within max_threads).
/// False when nothing was handed off (the machine was in scheduler code, no
/// spare thread can be had, or the runtime is stopping). The monitor
/// registered the process for membarrier(2) first, and calls this only
/// where that worked. Monitor thread only.
bool hand_off(runtime_state& rt, processor& p, struct handoff_record& out) noexcept;

/// What the monitor learns of the task that runs on after a hand-off: the
/// old machine and the goroutine that `running` named, a pointer compared
/// with m->lost_g only (its fields are read, when a report needs them, by
/// the pin protocol of runtime/sysmon.cpp).
struct handoff_record {
    machine* m = nullptr;
    goroutine* g = nullptr;
};

/// A machine whose scheduler loop ended (its P handed off, or the runtime
/// stopping) waits as a spare until it is given a processor (returned; the
/// caller runs it) or the runtime stops (nullptr). Its own thread.
processor* wait_as_spare(runtime_state& rt, machine& m) noexcept;

/// The thread that took over a processor, right after adopt(): gives the
/// machine that lost it what the driver left behind (take_orphan). Its thread.
void hand_over_orphan(machine& m, netpoll_driver& driver) noexcept;

/// A machine that lost its processor, once its task suspended: waits for
/// hand_over_orphan, then retires and destroys the orphan (if any), while
/// still counted lost (so the deadlock check waits for what it completes).
void retire_orphan(machine& m) noexcept;

/// main_finished: wakes every spare so that it exits.
void wake_spares(runtime_state& rt) noexcept;

/// run(), at shutdown: joins every machine thread but the caller's.
void join_machines(runtime_state& rt) noexcept;

/// The thread of a spare machine (machine_threads.cpp): it waits for a processor
/// and runs it, again and again, until the runtime stops.
void machine_main(runtime_state& rt, machine& m) noexcept;

/// Blocking pool: pool threads plus spare machines have reached
/// max_threads - nprocs (caller holds pool.lock).
bool thread_cap_reached_locked(const runtime_state& rt) noexcept;

}  // namespace goro::detail
