// stealing — how an idle processor takes work from the others' deques:
// about half of a random victim's deque per steal, four rounds over all
// victims (steal_work), and who pays the store-load fence of the deques'
// asymmetric mode (work_deque.hpp): the thieves, one membarrier(2) per steal
// batch, or, for a deque stolen from often, its owner (choose_deque_fences).
// When a processor steals is find_runnable's business (scheduler.cpp).
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>

#include "detail/fatal.hpp"
#include "detail/scheduler_internal.hpp"
#include "detail/scheduler_state.hpp"

namespace goro::detail {

bool register_steal_fence() noexcept {
    return ::syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
}

namespace {

constexpr unsigned k_steal_rounds = 4;

std::uint64_t next_random(std::uint64_t& state) noexcept {
    // xorshift64*: good enough to pick steal victims.
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return state * 0x2545F4914F6CDD1DULL;
}

// The thieves' heavy fence of the deques' asymmetric mode
// (work_deque.hpp): every running thread of the process executes a full
// barrier. Registered before any worker ran (register_steal_fence), so it
// cannot fail; if it did, a steal could take an item its owner takes too.
void steal_fence() noexcept {
    if (::syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) != 0)
        fatal_exit("fatal error: goro: membarrier(2) failed after registration; cannot steal safely\n");
}

// Steals about half of victim's deque: the first item is returned, the rest
// go into p's deque.
goroutine* steal_from(processor& p, processor& victim) noexcept {
    std::size_t want = (victim.deque.size_hint() + 1) / 2;
    if (want == 0) return nullptr;  // no session, no fence, for an empty deque
    const std::size_t wanted = want;
    // One session, and one heavy fence in the asymmetric mode, for all the
    // steals below (work_deque.hpp).
    decltype(victim.deque)::steal_session session(victim.deque);
    if (session.needs_fence()) steal_fence();
    // The first goroutine is registered here before it runs; the rest wait
    // in p's deque (processor::goroutines, transit_epoch).
    const bool began = begin_transit(p);
    goroutine* first = nullptr;
    while (want > 0) {
        goroutine* g = nullptr;
        auto r = victim.deque.steal(g);
        if (r == decltype(victim.deque)::steal_result::empty) break;
        if (r == decltype(victim.deque)::steal_result::lost_race) continue;
        --want;
        if (!first) {
            first = g;
        } else if (!p.deque.push(g)) {
            push_local(p, g);
            break;
        }
    }
    if (first) register_if_new(p, first);
    end_transit(p, began);
    note_steal(p.stats, victim.stats, victim.index, wanted - want);
    return first;
}

}  // namespace

// Who fences for p's deque in its asymmetric mode (work_deque.hpp), every
// k_fairness_interval ticks: its owner while it is stolen from (every
// steal batch would otherwise cost its thief a membarrier, and the owner
// the interrupt: chan_throughput at 2 processors steals that often), its
// thieves after k_quiet_intervals intervals without a steal (fork-join
// code, whose owners join far more often than anyone steals).
constexpr unsigned k_quiet_intervals = 8;
void choose_deque_fences(processor& p) noexcept {
    // relaxed: a hint; thieves add to it after their steals.
    const std::uint64_t stolen = p.stats.stolen.load(std::memory_order_relaxed);
    if (stolen != p.stolen_seen) {
        p.stolen_seen = stolen;
        p.quiet_intervals = 0;
        p.deque.set_owner_fences(true);
    } else if (p.quiet_intervals < k_quiet_intervals && ++p.quiet_intervals == k_quiet_intervals) {
        p.deque.set_owner_fences(false);
    }
}

goroutine* steal_work(processor& p) noexcept {
    runtime_state& rt = p.rt;
    const unsigned n = rt.nprocs;
    if (n == 1) return nullptr;
    for (unsigned round = 0; round < k_steal_rounds; ++round) {
        const unsigned start = static_cast<unsigned>(next_random(p.rng) % n);
        for (unsigned k = 0; k < n; ++k) {
            processor& victim = *rt.procs[(start + k) % n];
            if (&victim == &p) continue;
            if (goroutine* g = steal_from(p, victim)) return g;
        }
        if (rt.global_size.load(std::memory_order_relaxed) != 0) {
            if (goroutine* g = global_take(p, processor::k_deque_capacity / 2)) return g;
        }
        if (rt.stopping.load(std::memory_order_relaxed)) return nullptr;
    }
    return nullptr;
}

bool any_deque_nonempty(runtime_state& rt) noexcept {
    for (auto& q : rt.procs)
        if (!q->deque.empty_hint()) return true;
    return rt.global_size.load(std::memory_order_relaxed) != 0;
}

}  // namespace goro::detail
