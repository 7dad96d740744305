// scheduler_internal — what the scheduler's own files share (scheduler.cpp:
// the processors' loop and parking; machine_threads.cpp: the threads that
// run it; deadlock.cpp: the deadlock check; run_queues.cpp: the global
// queue, the idle list and waking; stealing.cpp: stealing from the other
// deques; goroutine_lifecycle.cpp: the calls a task makes to start, ready,
// join in place and finish). Not for
// the rest of the runtime, which goes through scheduler_state.hpp's and
// goroutine.hpp's functions. Internal.
#pragma once

#include <atomic>
#include <cstddef>

#include "invariant.hpp"
#include "machine.hpp"
#include "sanitizers.hpp"
#include "scheduler_state.hpp"

namespace goro::detail {

struct fj_region;

// Goroutines a processor may run in place (join_handle's fork-join fast path)
// before going back through its scheduling loop. Symmetric transfer is a tail
// call in optimized builds, but not at -O0 nor under the sanitizers: there
// every transfer nests a native frame, and a fork-join program would chain
// millions of them. Going through the loop now and then (one trip per 64
// joins, unmeasurable in release) keeps the stack bounded everywhere.
constexpr unsigned k_max_in_place_runs = 64;
// How deep under the newest item of its own deque a joiner looks for the
// unstarted child it awaits (work_deque::take). Code that joins children in
// spawn order finds child i under the n - 1 - i spawned after it: 32 covers
// the fan-outs of the fork-join benchmarks (10 for skynet, 14 for nqueens)
// twice over. The lookup reads the one slot the child's deque_index names
// (goroutine.hpp), at any depth: a miss costs that read, then the ordinary
// join. Under 256, the window of that one-byte index.
constexpr std::size_t k_join_search_depth = 32;
static_assert(k_join_search_depth <= 256, "one slot read: goroutine::deque_index names a slot among the 256 newest");

// The processor this thread runs, or nullptr. Read directly only by the
// (non-coroutine) functions of the scheduler's files; everyone else goes through
// current_processor(), which is never inlined: a task can resume on another
// thread, so a coroutine must not cache a thread_local's address across a
// co_await (compilers have been caught reusing it), and an out-of-line call
// cannot be cached. The functions that read it and that coroutines call (ready,
// current_goroutine, start_goroutine, ...) are [[gnu::noinline]] for the
// same reason: with LTO or a unity build they could otherwise be inlined
// into a coroutine body.
//
// With it, the machine (detail/machine.hpp) this thread is, or nullptr: set
// for the life of a processor thread. The processor is the one the machine
// holds or held last: it may have been handed off meanwhile, so task code
// reaches it only through a processor_scope. One thread_local for both, in
// the initial-exec model (a %fs-relative load; the default for -fPIC code
// is a call to __tls_get_addr per variable, which cost fib_30 15 % once
// every scope read two of them).
// The goroutine this thread is running, too (set by the run and by symmetric
// transfers; null between runs), so that current_goroutine() needs no
// processor_scope.
struct thread_ctx {
    processor* p = nullptr;
    machine* m = nullptr;
    goroutine* g = nullptr;
    // The innermost open goro::fj::all region of the goroutine this thread
    // runs, or null: emptied before that goroutine suspends, so it never
    // names another's (detail/fork_join_region.hpp).
    fj_region* fj_top = nullptr;
    // Forks this thread made, modulo 2^32: fork_join.cpp steps schedtick
    // once in k_fj_step_interval of them.
    unsigned fj_forks = 0;
};
// constinit: no dynamic initialization, so other files read it directly
// (without it, each access from another file checks for a TLS init function).
[[gnu::tls_model("initial-exec")]] extern thread_local constinit thread_ctx t_ctx;  // thread_context.cpp

/// Before the goroutine this thread runs suspends: its fork-join regions
/// leave the chain (detail/fork_join_region.hpp). A store, not a test:
/// cheaper on a park's path than the branch.
inline void forget_fj_regions() noexcept { t_ctx.fj_top = nullptr; }

/// ready() and friends on a thread that holds no processor: through the
/// global queue (nothing once shutdown has closed the runtime).
void ready_from_outside(goroutine* g) noexcept;

/// Wakes processor p from its park (any thread).
void notify(processor& p) noexcept;

void wakep_slow(runtime_state& rt) noexcept;

/// A store-load fence: the stores before it are visible to every thread
/// before the loads after it read (fj::all's promotion and a parking
/// spinner: the essay in scheduler.cpp). ThreadSanitizer does not model
/// atomic_thread_fence (g++ rejects it under -fsanitize=thread), so there
/// it is a seq_cst read-modify-write of one shared word: a locked
/// instruction, a full fence on x86 as the other is, and one it models.
inline void store_load_fence() noexcept {
#if GORO_TSAN
    static constinit std::atomic<unsigned> word{0};
    word.fetch_add(0, std::memory_order_seq_cst);
#else
    std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
}

/// Wakes one idle processor to spin if none is spinning (see the essay in
/// scheduler.cpp). Inline: its two cheap checks run on every spawn and ready.
inline void wakep(runtime_state& rt) noexcept {
    if (rt.npidle.load(std::memory_order_relaxed) == 0) return;
    if (rt.nspinning.load(std::memory_order_relaxed) != 0) return;
    wakep_slow(rt);
}

void push_local_overflow(processor& p, goroutine* g) noexcept;

/// start_goroutine on a processor this thread has entered and holds (p):
/// cannot fail, unlike start_goroutine, whose slow paths throw no_runtime
/// when the runtime is closing. goroutine_lifecycle.cpp; for fj::all's
/// promotion (fork_join.cpp).
void start_goroutine_held(goroutine* g, processor& p) noexcept;

// ---- the global queue and the idle list (run_queues.cpp) ----

/// Pops the global queue's first goroutine, or nullptr (sched_lock held).
goroutine* global_pop_locked(runtime_state& rt) noexcept;

goroutine* global_take_slow(processor& p, std::size_t batch);

/// Takes one goroutine from the global queue to run and moves up to
/// `batch - 1` more into p's deque (its holder only). Inline: its
/// emptiness check runs whenever a processor's own queues are empty.
inline goroutine* global_take(processor& p, std::size_t batch) {
    if (p.rt.global_size.load(std::memory_order_relaxed) == 0) return nullptr;
    return global_take_slow(p, batch);
}

/// Takes p off the idle list if it is on it (sched_lock held).
void remove_idle_locked(runtime_state& rt, processor& p) noexcept;

// ---- stealing (stealing.cpp) ----

/// Steals about half of a random victim's deque, four rounds over all the
/// others (then the global queue): the first goroutine is returned, the
/// rest go into p's deque. nullptr when every place looked empty.
goroutine* steal_work(processor& p) noexcept;

/// Fires here the stealable timers that the other processors have left due
/// for a while (Go's stealWork runs other Ps' timers; stealing.cpp, "Timers
/// of other processors"): what they wake lands in p's queues. True when
/// some fired. p is held and not idle.
bool steal_timers(processor& p) noexcept;

/// Whether any deque or the global queue looks non-empty (a hint, for the
/// lost-wake-up re-check before parking).
bool any_deque_nonempty(runtime_state& rt) noexcept;

/// Who fences for p's deque in its asymmetric mode, chosen every
/// fairness interval (stealing.cpp).
void choose_deque_fences(processor& p) noexcept;

/// Pushes onto p's own deque (its holder only); on overflow moves half of it
/// (and g) to the global queue. Inline: once per spawn.
inline void push_local(processor& p, goroutine* g) noexcept {
    // A thread that lost its processor never touches it again (handoff.cpp).
    GORO_ASSERT(holds_processor(p));
    if (p.deque.push(g)) [[likely]]
        return;
    push_local_overflow(p, g);
}

// ---- a machine's life (scheduler.cpp) ----

/// Runs p (nullptr: nothing to run) on machine m, this thread, and each
/// processor m is given after p is handed off (`adopt`: p itself comes
/// from a hand-off), until the runtime stops. Its threads' entry points,
/// worker_main and machine_main, are machine_threads.cpp.
void run_machine(runtime_state& rt, machine& m, processor* p, bool adopt);

// ---- deadlock detection (deadlock.cpp) ----

/// Reports a deadlock and exits (status 2) if nothing could ever make a
/// goroutine runnable again; sched_lock held, by the last processor to go
/// idle or the last lost machine to see its task suspend.
void check_deadlock_locked(runtime_state& rt) noexcept;

}  // namespace goro::detail
