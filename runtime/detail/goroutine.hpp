// goroutine — the schedulable unit: one per root task started by goro::go,
// goro::spawn or goro::run.
//
// A goroutine's record lives inside the promise of its root task frame (no
// separate allocation). Nested tasks that a goroutine awaits run inside it;
// when any of them parks, the parking awaitable stores where to continue in
// `resume_point` and publishes the goroutine to whoever will wake it. The
// scheduler's queues hold goroutine pointers; running a goroutine means
// resuming its resume_point on a processor.
#pragma once

#include <atomic>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <source_location>

#include <time.h>

#include "invariant.hpp"
#include "join_word.hpp"

namespace goro::detail {

struct registry;
struct registry_slot;

enum class goroutine_kind : std::uint8_t {
    nested,    // an awaited task: not a goroutine of its own; the fields below are unused
    detached,  // goro::go: frees itself on completion; an escaping exception is a panic
    joinable,  // goro::spawn: completion is handed to a join_handle through join_state
    main,      // the task given to goro::run: its completion stops the runtime
    // goro::group::go: frees itself on completion and reports to its group
    // (its exception included) through the group_state that join_state holds
    group_member,
    // A joinable goroutine that its joiner took, never started, off its own
    // deque and runs in place (run_in_place): from then on a nested task of
    // the running goroutine's record; join_state holds that record.
    in_place,
    // The same, taken by a goro::join_all (detail/join_batch.hpp): its end
    // goes on to the join_all's next child; join_state holds the batch.
    in_place_batch,
    // A goro::fj::all child run in place, the last of its region when some
    // of its siblings were promoted (detail/fork_join_region.hpp): its end
    // waits for them; join_state holds the region's batch.
    // The last kind: task.hpp's final awaiter tests this and in_place_batch
    // as `> in_place`, and join_batch_next tells them apart.
    fj_last,
};

struct goroutine {
    // The fields up to frame_link are initialized in every task frame's
    // ramp (their types zero themselves: a coroutine handle, a
    // source_location, the atomics). They sit together, 48 bytes, all zero
    // but `kind`'s byte: g++ 12 writes them with two 16-byte stores and two
    // 8-byte ones (`kind`'s word, which it builds from four narrower
    // stores, pairs with nothing). The fields after frame_link have no
    // initializer: the ramp, which every awaited task and every
    // goro::fj::all child runs, leaves them alone, and prepare_root writes
    // them when the frame becomes a goroutine (go, spawn, join_all, a
    // group's go, goro::run, an fj::all child promoted). An awaited task
    // never reads them. (Issue 14: 6 stores a ramp before, 4 now.)

    // Where the scheduler continues this goroutine. Written by the goroutine
    // itself (on the thread running it) before it publishes itself to a waker;
    // the publication (a lock release, or a release store/CAS) orders that
    // write before the waker's ready(), whose queue push orders it before the
    // processor that pops and resumes it.
    std::coroutine_handle<> resume_point;

    std::source_location spawn_site{};

    // What the goroutine is blocked on, for deadlock reports and dumps: a
    // static string, written by the goroutine before parking, read racily by
    // the reporter (relaxed: it is diagnostic only).
    std::atomic<const char*> wait_reason{nullptr};

    goroutine_kind kind = goroutine_kind::nested;

    // Its index in the deque that holds it, modulo 256: work_deque::take's
    // lookup (work_deque.hpp, deque_indexed). Written by that deque's owner
    // (push, take's move); read by a joiner looking for it in its own deque,
    // perhaps after it left (its next holder may be writing it): atomic.
    // In padding, as reg_home.
    std::atomic<std::uint8_t> deque_index{0};

    // The registry holding reg_slot: the index of the processor whose registry
    // it is, or k_external_registry. (An index rather than a pointer: it fits
    // in padding, which keeps a spawned task's frame in a smaller size class.)
    std::uint16_t reg_home = 0;

    // When the goroutine last parked, for dumps ("[chan receive, 5
    // minutes]"): g_park_word as the park read it, whose low 31 bits are a
    // coarse clock in milliseconds modulo 2^31 (a wait's length is the
    // difference, masked: wait_ms_between; exact for waits under 24 days)
    // and whose top bit is the trace flag, which readers mask off. Written
    // with wait_reason by the goroutine itself (note_waiting); read racily by
    // dumps (relaxed: diagnostic only). In padding, as reg_home.
    std::atomic<std::uint32_t> wait_since_ms{0};

    // Joinable goroutines: where completion meets the join_handle (its four
    // states and their transitions: join_word.hpp). Group members: their
    // group's state, a counted reference (group_state.hpp).
    join_word join_state;

    // nested: the coroutine awaiting this task (resumed when it finishes;
    // null when it was resumed by hand). Any other kind: the goroutine's own
    // root frame, destroyed at shutdown if it never finished. One field for
    // both keeps a task frame in a smaller size class (a root task is never
    // awaited as a nested one: go/spawn/run take it by value).
    std::coroutine_handle<> frame_link;

    // Link used by whichever intrusive queue currently holds this goroutine
    // (the global run queue, a timer or blocking-pool list). A goroutine is in
    // at most one such queue at a time; the queue's owner guards the field.
    // A child run in place (run_in_place) is in no queue for the rest of its
    // life: the field then links it to the next one out in its record's
    // in-place chain (registry_slot::in_place_child), written before the
    // chain's release store publishes it.
    goroutine* queue_next;

    // This goroutine's slot in the registry of live goroutines (for shutdown
    // and dumps), or null: written when it first leaves a deque other than
    // for an in-place join (lazy registration, processor::goroutines), when
    // a thread without a processor starts it, and when it finishes (see
    // scheduler_state.hpp, registry); reg_home names the registry.
    // Only whoever holds the goroutine (its runner, or the thread that just
    // took it out of a deque) reads or writes it.
    registry_slot* reg_slot;

    // Written by the goroutine's start (start_goroutine and its kin, and
    // the runtime's for main), before anything can read it.
    std::uint64_t id;
};

inline constexpr std::uint16_t k_external_registry = 0xFFFF;

/// The stores that make `g`, the record in the promise of `frame`, a root
/// goroutine of `kind`, not started yet, the fields a ramp leaves
/// uninitialized among them: go.hpp's prepare_goroutine, goro::run's main,
/// a group's go, and a goro::fj::all child promoted (fork_join.cpp). Its
/// start's queue push publishes them.
[[gnu::always_inline]] inline void prepare_root(goroutine& g, std::coroutine_handle<> frame, goroutine_kind kind,
                                                const std::source_location& site) noexcept {
    g.queue_next = nullptr;
    g.reg_slot = nullptr;  // (`id` is written by the start)
    g.kind = kind;
    g.spawn_site = site;
    g.frame_link = frame;
    g.resume_point = frame;
}

/// The main goroutine's id (goro::run's task): the one goroutine with it,
/// so that a dump tells main by its id, written before the goroutine is
/// published, rather than by `kind`, which run_in_place rewrites while a
/// dump may read a registered child.
inline constexpr std::uint64_t k_main_goroutine_id = 1;

/// The clock of goroutine::wait_since_ms: CLOCK_MONOTONIC_COARSE (a read of
/// the vDSO's page, a few nanoseconds), in milliseconds, modulo 2^31.
inline std::uint32_t read_wait_clock_ms() noexcept {
    timespec ts;
    ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return static_cast<std::uint32_t>(static_cast<std::uint64_t>(ts.tv_sec) * 1000u +
                                      static_cast<std::uint64_t>(ts.tv_nsec) / 1'000'000u) &
           0x7FFF'FFFFu;
}

/// g_park_word's top bit: a run is traced (GORO_TRACE, options::trace;
/// runtime/trace.cpp), so a park records a trace event.
inline constexpr std::uint32_t k_park_traced = 0x8000'0000u;

/// The word every park reads, once (note_waiting): the wait clock as of its
/// last refresh in the low 31 bits, and the trace flag (k_park_traced) in the
/// top one. One word, so that a park loads and tests one value for both
/// (pingpong parks twice a round trip: the cost of seeing inside is counted
/// per park). relaxed everywhere: the clock is a diagnostic value, and the
/// flag is set before the processors start and cleared after they stop
/// (set_park_traced: their start and join order it).
///
/// The clock: a park stamps this instead of reading the clock (a vDSO call
/// on every park was a fifth of pingpong's cost of seeing inside).
/// Refreshed by refresh_wait_clock(): each processor every
/// k_fairness_interval scheduling ticks and when it wakes from a park, the
/// monitor each time it wakes (every 10 ms or more often while any
/// processor is busy), and a runtime's start. So a stamp is at most one
/// refresh old, and a dump's "waited" reads at most that much long (a dump
/// reads the clock itself). Defined in goroutine_dump.cpp.
extern std::atomic<std::uint32_t> g_park_word;

/// True while a run is traced.
inline bool park_traced() noexcept {
    return (g_park_word.load(std::memory_order_relaxed) & k_park_traced) != 0;
}

/// Sets or clears the trace flag, keeping the clock (an RMW: a refresh
/// racing with it neither loses the flag nor gets its clock lost).
inline void set_park_traced(bool on) noexcept {
    if (on)
        g_park_word.fetch_or(k_park_traced, std::memory_order_relaxed);
    else
        g_park_word.fetch_and(~k_park_traced, std::memory_order_relaxed);
}

/// The milliseconds from the stamp `since` (a goroutine's wait_since_ms) to
/// the clock reading `now` (read_wait_clock_ms), modulo 2^31: exact across
/// the clock's wrap for waits under 24 days.
inline std::uint32_t wait_ms_between(std::uint32_t since, std::uint32_t now) noexcept {
    return (now - since) & ~k_park_traced;
}

/// Brings g_park_word's clock up to date; writes only when it changed (once
/// a millisecond at most), so that the parks' loads seldom miss. A compare
/// and exchange, not a store: the trace flag in the same word must survive
/// (several threads refresh; if one of them, or the flag's setter, changed
/// the word meanwhile, the clock is recent enough or is retried).
inline void refresh_wait_clock() noexcept {
    const std::uint32_t now = read_wait_clock_ms();
    std::uint32_t word = g_park_word.load(std::memory_order_relaxed);
    while ((word & ~k_park_traced) != now &&
           !g_park_word.compare_exchange_weak(word, (word & k_park_traced) | now, std::memory_order_relaxed)) {
    }
}

/// The execution trace's park event (runtime/trace.cpp), for the calling
/// goroutine, which it returns: see note_waiting.
goroutine* trace_park(const char* reason) noexcept;

/// Called by a goroutine about to park, before it publishes itself to a
/// waker: what it waits for (a static string) and since when, for dumps
/// (and the execution trace, when one is recorded). One load of
/// g_park_word for both: the stamp keeps the flag bit (readers mask it).
/// `g` is the calling goroutine (current_goroutine()).
///
/// Returns g, which the caller may use in place of its own copy
/// (prepare_park does). The trace call takes no g and returns it, so that
/// g, which the caller holds in the return register of its
/// current_goroutine() call, is neither moved to an argument register nor
/// kept in a callee-saved one across the call on the untraced path: that
/// cost the channel's park a register save and restore and a move or two,
/// 3 to 4 of the 7 instructions it paid for seeing inside (issue 15).
inline goroutine* note_waiting(goroutine* g, const char* reason) noexcept {
    const std::uint32_t word = g_park_word.load(std::memory_order_relaxed);
    g->wait_since_ms.store(word, std::memory_order_relaxed);
    g->wait_reason.store(reason, std::memory_order_relaxed);
    if (word & k_park_traced) [[unlikely]] {
        goroutine* current = trace_park(reason);
        GORO_ASSERT(current == g);
        return current;
    }
    return g;
}


// ---- The scheduler's internal interface (runtime/goroutine_lifecycle.cpp and
// the scheduler's other files: scheduler.cpp, run_queues.cpp, panic.cpp, ...) ----

/// The goroutine running on this thread, or nullptr outside a processor.
goroutine* current_goroutine() noexcept;

/// Makes a parked goroutine runnable. Callable from any thread. On a processor
/// the goroutine goes to its run-next slot (it runs next, as in Go's ready()).
void ready(goroutine* g) noexcept;

/// Like ready(), but queues the goroutine behind the processor's other work
/// instead of in its run-next slot (used by yield and for fairness).
void ready_later(goroutine* g) noexcept;

/// Like ready(), but pushes onto the processor's deque (stealable, LIFO for the
/// owner) without displacing its run-next slot: for batches of wake-ups such as
/// I/O completions and fired timers.
void ready_local(goroutine* g) noexcept;

/// Registers a new root goroutine and queues it to run. Throws goro::no_runtime
/// outside a runtime.
void start_goroutine(goroutine* g, const char* api_name);

/// goro::spawn_all's start of `n` goroutines at once, on this thread's
/// processor: one entry, one count, one wake-up for them all. False, with
/// none started, when the calling thread holds no processor it can enter
/// right now (no processor, inside the loop or another scope, or the
/// monitor is taking it): the caller then starts them one by one.
bool start_goroutines(goroutine* const* gs, std::size_t n) noexcept;

/// The fork-join fast path's start (join_handle's awaiter, go.hpp): if
/// `child` (started, never run) is among the newest items of this
/// processor's deque (the ones spawned after it included), takes it off
/// and makes it a nested task of the running goroutine's record (the
/// joiner's own, or the record the joiner itself runs in place in): its
/// final transfer goes straight to `joiner_resume`, a park inside it parks
/// that record, and it is in no registry (a dump finds it on the record's
/// in-place chain, registry_slot::in_place_child, until it ends). True
/// when the caller is to resume the child at once; false otherwise, with nothing changed (no processor or no running
/// goroutine, another processor stole it, or it sits too deep: see
/// k_join_search_depth in scheduler_internal.hpp).
bool run_in_place(goroutine* child, std::coroutine_handle<> joiner_resume) noexcept;

/// The fork-join fast path's end (task.hpp's final awaiter): `child`, run
/// in place by run_in_place, has finished; pops it off its record's
/// in-place chain (registry_slot::in_place_child), counts its finish, and
/// waits for a dump that may still read it (dump_finish_point), before its
/// joiner resumes and frees the frame.
void end_in_place(goroutine* child) noexcept;

/// Called by a finishing root goroutine before its frame may be freed.
void finish_goroutine(goroutine* g) noexcept;

/// Switches this processor's notion of the running goroutine (symmetric transfer
/// from a finishing goroutine straight into the goroutine that joins it).
void switch_to(goroutine* g) noexcept;

/// An exception escaped a detached goroutine: run the panic handler or print
/// "panic: ..." with the spawn site and terminate (exit status 2, as Go).
void panic(const std::source_location& spawn_site, std::uint64_t id, std::exception_ptr error) noexcept;

/// The main goroutine has finished: stop the runtime.
void main_finished() noexcept;

/// True when no runtime runs, or the running one is stopping (main finished).
bool runtime_stopping() noexcept;

/// True on the thread that destroys the goroutines still suspended when run()
/// returns (every worker has stopped by then, and that thread is the only one
/// touching their frames). A primitive destroyed with tasks parked on it
/// orphans them quietly in that phase; at any other time it is a bug.
bool tearing_down() noexcept;

}  // namespace goro::detail
