// Internal state of the scheduler: processors, the global run queue, the idle
// list and the counters of the spin/park protocol. Private to runtime/*.cpp;
// the protocol itself is described at the top of runtime/scheduler.cpp.
#pragma once

#include <signal.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "../blocking.hpp"
#include "../run.hpp"
#include "goroutine.hpp"
#include "netpoll.hpp"
#include "poll_spin.hpp"
#include "processor_stats.hpp"
#include "spin_mutex.hpp"
#include "timer_heap.hpp"
#include "work_deque.hpp"

namespace goro::detail {

struct runtime_state;
struct tracer;

/// The execution trace of a run (runtime/trace.cpp); deletes through trace.cpp.
struct tracer_deleter {
    void operator()(tracer* t) const noexcept;
};
struct machine;  // detail/machine.hpp

/// The live goroutines started on one processor, for shutdown (destroy what
/// never finished) and for dumps. Designed so that starting and finishing a
/// goroutine costs no atomic read-modify-write:
///
///  - slots live in chunks that never move; a goroutine's record points at its
///    slot (reg_slot). Only the owner processor writes a goroutine pointer into
///    a slot (insert); anyone clears it (erase: a release store of nullptr), so
///    a slot read as nullptr by the owner is certainly free.
///  - the owner keeps a list of free slots. Slots it clears itself go straight
///    back on it; slots cleared by other processors are found by a scan when
///    the list runs dry. A scan costs O(slots) and is followed by at least
///    slots/4 cheap inserts (if less than a quarter was free, the registry
///    grows by a quarter instead), so inserts are O(1) amortized.
///  - readers (shutdown, dumps) walk the chunks with acquire loads.
///
/// The registry of a thread that is not a processor (external) is the same
/// structure with its owner role taken under a mutex.
///
/// A slot also holds the head of its goroutine's in-place chain: the
/// innermost of the children running in place in that goroutine's run
/// (run_in_place: a joiner that took its unstarted child off its own deque
/// runs it as a nested task of the running goroutine's record, which parks
/// and is readied for it), or null. Each child in the chain links to the
/// one it runs in by its queue_next, the outermost to null. Here rather
/// than in the goroutine record: a goroutine that runs is registered, and
/// 8 more bytes in every task frame cost pingpong 5-10 % on the AMD VM (a
/// layout effect: RESULTS.md, 2026-11-29 17:30). Only the record's run
/// writes it (run_in_place pushes, end_in_place pops); dumps read it
/// racily under their pin (release/acquire: a child's fields, written
/// before its push, are visible to a dump that reads it here).
struct registry_slot {
    std::atomic<goroutine*> g{nullptr};
    std::atomic<goroutine*> in_place_child{nullptr};
};

struct registry {
    struct chunk {
        std::unique_ptr<registry_slot[]> slots;
        std::size_t size;
    };
    std::vector<chunk> chunks;                       // owner writes; appended only
    std::atomic<std::size_t> chunk_count{0};          // published count for readers
    // The free slots, a stack with room for every slot (grow() makes it), so
    // that erase() never allocates: a plain array rather than a vector,
    // whose growth path cost every erase a full register save. Owner only.
    std::unique_ptr<registry_slot*[]> free_slots;
    std::size_t free_count = 0;                       // owner only
    std::size_t total_slots = 0;                      // owner only

    explicit registry(std::uint16_t id) : index(id) { chunks.reserve(64); }

    const std::uint16_t index;  // the processor's index, or k_external_registry

    /// Owner only. Throws std::bad_alloc (nothing changed) when the registry
    /// must grow and cannot.
    inline void insert(goroutine* g);  // defined below, after processor
    /// Any thread. `mine`: the registry the caller owns (or null); if g lives
    /// there, its slot goes straight back on the free list. Inline (defined
    /// below): a finish's hot path makes no call for it (issue 14).
    static inline void erase(goroutine* g, registry* mine) noexcept;
    /// Any thread; a racy snapshot (exact when nothing runs).
    template <typename F>
    void for_each(F&& fn) const {
        for_each_slot([&](goroutine* g, registry_slot&) { fn(g); });
    }
    /// The same, with each goroutine's slot (for its in-place chain).
    template <typename F>
    void for_each_slot(F&& fn) const {
        const std::size_t n = chunk_count.load(std::memory_order_acquire);
        for (std::size_t c = 0; c < n; ++c)
            for (std::size_t i = 0; i < chunks[c].size; ++i)
                // acquire: pairs with the release store in insert(), making the
                // goroutine's fields visible to the reader.
                if (goroutine* g = chunks[c].slots[i].g.load(std::memory_order_acquire)) fn(g, chunks[c].slots[i]);
    }

private:
    void refill();  // free_count == 0: rescans for freed slots, grows when few
    void grow(std::size_t slots);
    void scan_free_slots();
};

// processor::runnext's hook mark: no goroutine (a record holds pointers,
// so none has this address).
inline constexpr std::uintptr_t k_runnext_hook = 1;
static_assert(alignof(goroutine) > k_runnext_hook);
inline goroutine* runnext_hook() noexcept { return reinterpret_cast<goroutine*>(k_runnext_hook); }
/// `rn`, a value of processor::runnext, is a goroutine (not null, not the
/// hook mark): one compare, as the test for null was.
inline bool runnext_holds(const goroutine* rn) noexcept {
    return reinterpret_cast<std::uintptr_t>(rn) > k_runnext_hook;
}

// processor::netpoll_readied outside a reap (a reap counts from 0).
inline constexpr unsigned k_netpoll_idle = ~0u;
inline constexpr unsigned k_netpoll_idle_hooked = ~0u - 1;

struct processor {
    // Room for the frontier of deep fork-join code (depth x fan-out items,
    // a few times over once the oldest items are rescued, see
    // take_starving_oldest in scheduler.cpp). What overflows goes to the
    // global queue, which is served FIFO every 61 ticks: with 256 slots a
    // skynet of 100M tasks spilled its upper levels there and the 61-tick
    // check ran them breadth-first, 650 MB of live frames instead of 5 MB
    // (issue 14, item 4). 32 KiB per processor.
    static constexpr std::size_t k_deque_capacity = 4096;

    processor(runtime_state& rt, unsigned index);

    runtime_state& rt;
    const unsigned index;

    // ---- owned by this processor's thread ----
    work_deque<goroutine, k_deque_capacity> deque;  // thieves steal from the top

    // The owner's per-run fields, on one cache line (the deque's slots end on
    // a line boundary; alignas makes it explicit). The four atomics among
    // them are what the monitor (detail/sysmon.hpp) watches: it reads this
    // line every poll and writes preempt_slice rarely, so
    // watching costs the owner no cache line of its own on the hot path.
    // The goroutine just readied here; not stealable. Holder only, but
    // atomic (relaxed loads and stores, plain moves on x86) so that the
    // monitor may look whether it is empty (a hand-off hint). Null, a
    // goroutine, or runnext_hook(): empty, with the next ready() noted
    // (the latency sample or the trace, processor_stats.hpp's "ready
    // hooks"). Every reader but ready() tests runnext_holds, which reads
    // the hook as empty; ready() finds it as it finds any goroutine it
    // displaces, in the branch it takes for those.
    alignas(64) std::atomic<goroutine*> runnext{nullptr};
    // The goroutine being resumed, or null between runs. Owner writes: a
    // release store at each run's start and symmetric transfer (run_goroutine,
    // switch_to; it publishes the goroutine's fields, acquired by its pop or
    // written by this thread, to the monitor), a relaxed null when the run
    // returns to the loop. Read relaxed by the owner (current_goroutine),
    // acquire by the monitor.
    std::atomic<goroutine*> running{nullptr};
    // Go's schedtick. Low 32 bits: run events, +1 when the loop starts a run
    // and when a goroutine finishes (a symmetric transfer continues the run
    // it came from); high 32 bits: time slices, +1 when a run starts a new
    // slice (a goroutine not taken from runnext). Owner writes (relaxed load
    // and store: it is the only writer); the monitor reads it relaxed and
    // times how long each value lasts (only the monitor reads the clock).
    // See k_tick_run, k_tick_slice.
    std::atomic<std::uint64_t> schedtick{0};
    // Goroutines this processor's loop has resumed (run_goroutine; not the
    // symmetric transfers), and the fairness tick: find_runnable runs its
    // fairness checks once every k_fairness_interval runs, as Go's
    // findRunnable does on schedtick % 61 (a count of runs too). One count
    // for both, so that goro::metrics' runs costs a run nothing that the
    // scheduler does not do anyway (issue 15: a counter of its own was an
    // add a run). Owner writes (owner_add); goro::metrics reads it relaxed,
    // racily (a snapshot).
    std::atomic<std::uint64_t> runs{0};
    // The value of `runs` at which find_runnable next runs its fairness
    // checks (a compare a round, where `runs % 61` was a multiply). Idle
    // rounds (nothing to run) leave `runs` as it is, and so do not repeat
    // the checks: the checks move the due value on. Owner only.
    std::uint64_t fairness_due = 0;
    // The slice number (schedtick >> 32) that the monitor saw last longer
    // than the time slice: while it equals the current one, find_runnable
    // does not let runnext inherit the slice. Monitor writes (relaxed: a
    // hint, read on the owner's next pick); owner reads relaxed. A stale
    // value never matches a later slice.
    std::atomic<std::uint32_t> preempt_slice{~std::uint32_t{0}};
    unsigned in_place_runs = 0;     // goroutines run in place since the loop last resumed one
    // choose_deque_fences (stealing.cpp): stats.stolen as last seen, and
    // the fairness intervals since it last changed (holder only).
    std::uint64_t stolen_seen = 0;
    unsigned quiet_intervals = 0;
    bool spinning = false;          // counted in runtime_state::nspinning
    std::uint64_t rng;              // xorshift state for victim selection
    std::int64_t watched_top = -1;  // deque top at the last fairness check
    std::int64_t watched_since_ns = 0;  // when it was first seen unmoved (0: not yet)
    unsigned starvation_backoff = 0;    // rescues since the deque was last empty (scheduler.cpp)
    // While the scheduler reaps its netpoll (begin_netpoll_reap, netpoll_reap.hpp):
    // the I/O completions' readies skip wakep() and count themselves here
    // instead; the reaper decides afterwards whom to wake. Outside a reap,
    // k_netpoll_idle, or k_netpoll_idle_hooked while local_hook is set:
    // ready_local tests this word against k_netpoll_idle anyway, so that
    // one test sends it both ways (a reap, the hook). Holder only.
    unsigned netpoll_readied = k_netpoll_idle;
    // The next ready_local is noted (the ready hooks, processor_stats.hpp):
    // in a reap, where ready_local takes its slow branch anyway, read here;
    // outside one, mirrored in netpoll_readied. Holder only.
    bool local_hook = false;
    poll_spin spin;                 // the look before parking with I/O in flight (holder only)

    timer_heap timers;              // own lock; fired by this processor
    // Goroutines that ran here and have not finished. A goroutine is
    // registered when it is taken out of a run queue to run (or to run
    // first among a stolen batch), not when it starts: one that its
    // joiner runs in place never is (lazy registration, issue 14: the slot
    // was 6-7 % of skynet). Until then a dump finds it in its run queue
    // (see transit_epoch).
    registry goroutines;
    // Odd while this processor moves goroutines out of a run queue (its own
    // deque, a victim's, the global queue) into a registry, the global
    // queue, a deque or a record's in-place chain: between the removal and
    // the arrival, a dump that reads the run queues and then the
    // registries could miss one.
    // begin_transit / end_transit (holder only) bracket every such move;
    // a dump re-reads after waiting out any move that overlapped its read
    // (goroutine_dump.cpp, "lazy registration"). The odd store is ordered
    // before the removal by the removal's own release (the deque's bottom
    // store or top CAS), the even one (release) after the arrival.
    std::atomic<std::uint64_t> transit_epoch{0};
    // Goroutines started here minus goroutines finished here (owner writes,
    // add_live: a relaxed load and store, or the one add they amount to;
    // num_goroutines() sums every processor's, racily).
    std::atomic<std::int64_t> live_delta{0};
    std::uint64_t next_id;          // ids handed out here: 2(index+1), then every id_step
    std::uint64_t id_step;          // 2 * nprocs (the even ids, interleaved: one add a start)
    std::unique_ptr<netpoll_driver> netpoll;  // the I/O driver; created on the owner thread
    // The kernel's id of the processor's thread (gettid), for the monitor's
    // stall report (its state in /proc). Owner writes once at start-up,
    // before it runs anything; the monitor reads it relaxed (0: not yet).
    std::atomic<int> thread_id{0};

    // The machine (detail/machine.hpp) that holds this processor, as the
    // monitor records it (the holder itself checks its own machine::held).
    // Written by run() at start-up and by the monitor at a hand-off; read
    // by the monitor.
    std::atomic<machine*> owner{nullptr};

    // ---- guarded by runtime_state::sched_lock ----
    processor* idle_next = nullptr;
    bool idle = false;              // in the idle list
    bool handed_spinning = false;   // taken off the idle list by wakep(), counted as spinning

    // Set (exchange) by a waker before writing the eventfd; cleared by the
    // owner when it wakes, so each park needs at most one write.
    std::atomic<bool> wake_pending{false};

    processor_stats stats;          // goro::metrics' counters (processor_stats.hpp)
};

/// schedtick steps (processor::schedtick): a run that inherits the time
/// slice (taken from runnext) adds k_tick_run, and so does a goroutine's
/// finish; a run that starts a new slice adds both. The low half may wrap
/// into the high one after 2^32 runs: one spurious new slice, harmless.
inline constexpr std::uint64_t k_tick_run = 1;
inline constexpr std::uint64_t k_tick_slice = std::uint64_t{1} << 32;

/// Owner only: advances p's schedtick by `step` (relaxed: the owner is the
/// only writer, and the monitor only compares values; one `add` to memory,
/// see owner_add).
inline void advance_schedtick(processor& p, std::uint64_t step) noexcept { owner_add(p.schedtick, step); }

/// Owner only: p's live count (processor::live_delta) moves by `n` (a start
/// +1, a finish -1; relaxed, as owner_add).
inline void add_live(processor& p, std::int64_t n) noexcept { owner_add(p.live_delta, n); }

/// Holder only: a move out of a deque begins (see processor::transit_epoch).
/// False when one is under way already (a move inside another, as an
/// overflow while stolen goroutines are pushed): the outer one covers it.
/// relaxed: the removal that follows (a release) orders it for dumps.
inline bool begin_transit(processor& p) noexcept {
    const std::uint64_t e = p.transit_epoch.load(std::memory_order_relaxed);
    if (e & 1) return false;
    p.transit_epoch.store(e + 1, std::memory_order_relaxed);
    return true;
}

/// Holder only: the move that begin_transit began (`began`) is done: the
/// goroutines are where they went. release: the arrival happens before a
/// dump's acquire load that reads the even value.
inline void end_transit(processor& p, bool began) noexcept {
    if (began) p.transit_epoch.store(p.transit_epoch.load(std::memory_order_relaxed) + 1, std::memory_order_release);
}

/// registry::insert for a goroutine leaving a run queue (lazy registration),
/// out of memory being fatal (the scheduler cannot hand the failure to
/// anyone; Go's runtime dies the same way). Defined in run_queues.cpp.
void register_goroutine_or_die(processor& p, goroutine* g) noexcept;

/// Holder only: g, just taken out of a run queue to run (by its holder or
/// a thief), enters p's registry unless it is registered already (it ran
/// before). Inside a transit.
inline void register_if_new(processor& p, goroutine* g) noexcept {
    if (!g->reg_slot) register_goroutine_or_die(p, g);
}

struct blocking_pool {
    std::mutex lock;
    std::condition_variable work_ready;     // idle threads wait here
    std::condition_variable thread_exited;  // shutdown waits here
    blocking_job* head = nullptr;           // FIFO of queued jobs; guarded by lock
    blocking_job* tail = nullptr;
    unsigned threads = 0;                   // live pool threads; guarded by lock
    unsigned idle = 0;                      // of which waiting for work
    // Jobs in the FIFO. A submit starts a new thread unless the idle threads
    // outnumber the queued jobs: an idle thread counts as idle until it has
    // taken the lock again, so comparing with `idle` alone would let two
    // quick submits share one woken thread, and a job that waits for the
    // other (a pipe's reader and writer) would hang below the cap.
    std::size_t queued = 0;
    unsigned max_threads = 0;               // max_threads - procs
    bool stopping = false;
    std::vector<std::thread> finished;      // exited threads not yet joined
};

struct runtime_state {
    options opts;
    unsigned nprocs = 0;
    const char* netpoll_name = "";  // choose_netpoll(), set before the runtime is published
    // Processors look a while longer before parking while I/O is in flight
    // (poll_spin.hpp); GORO_DEBUG=pollspin=0 turns it off. Set before the
    // runtime is published.
    bool poll_spin = true;
    std::vector<std::unique_ptr<processor>> procs;

    // sched_lock guards the global run queue and the idle list.
    spin_mutex sched_lock;
    goroutine* global_head = nullptr;
    goroutine* global_tail = nullptr;
    std::atomic<std::size_t> global_size{0};  // written under sched_lock, read racily
    processor* idle_head = nullptr;
    std::atomic<unsigned> npidle{0};          // written under sched_lock, read racily
    std::atomic<unsigned> nspinning{0};

    // The monitor's state word and futex (runtime/sysmon.cpp): polling,
    // asleep (every processor idle) or stopping. The monitor sets asleep
    // under sched_lock after seeing npidle == nprocs; a processor that
    // leaves the idle list reads it after its own sched_lock section and
    // wakes the monitor (sysmon_kick). A line away from sched_lock and the
    // counters above (written by every waker), shared with the flags below:
    // all read often and written rarely.
    alignas(64) std::atomic<std::uint32_t> sysmon_state{0};

    std::atomic<bool> stopping{false};
    // Set by shutdown once the workers and the blocking pool have stopped:
    // from then on threads outside the runtime ready nobody and start no
    // goroutine (foreign_entry.hpp). seq_cst on both sides.
    std::atomic<bool> closed{false};

    // Stop-the-world for goroutine dumps (goroutine_dump.cpp): processors
    // check stop_world at the top of their scheduling loop and wait on
    // stw_cv, counted in stw_stopped (guarded by stw_lock).
    std::atomic<bool> stop_world{false};
    // On-demand dumps reading the registries now (goroutine_dump.cpp, the
    // dump pin): a finishing goroutine waits while it is non-zero before
    // its frame may be freed (dump_finish_point). Read on every finish,
    // written only by dumps: hence this read-mostly line.
    std::atomic<unsigned> dump_readers{0};
    std::mutex stw_lock;
    std::condition_variable stw_cv;
    unsigned stw_stopped = 0;

    // Goroutines started by threads that are not processors (the main
    // goroutine, go() from a blocking-pool thread); guarded by external_lock.
    std::mutex external_lock;
    registry external_goroutines{k_external_registry};
    std::atomic<std::int64_t> external_live{0};
    // Goroutines that returned on a thread holding no processor (a lost
    // thread after a hand-off, shutdown's destructors): goro::metrics adds
    // them to the processors' own `finished`. relaxed: a counter.
    std::atomic<std::uint64_t> external_finished{0};
    std::atomic<std::uint64_t> external_next_id{0};

    // Jobs handed to the blocking pool whose waiter has not yet been queued
    // back (a pending source of work: suppresses the deadlock report).
    std::atomic<std::int64_t> blocking_in_flight{0};
    blocking_pool pool;

    // The execution trace, when this run records one (GORO_TRACE,
    // options::trace): set before the processors start, written and freed
    // after they and the blocking pool have stopped (trace.cpp).
    std::unique_ptr<tracer, tracer_deleter> trace;
    // Hand-off (runtime/handoff.cpp, detail/machine.hpp). machines_lock
    // guards the list of machines (every thread that may hold a processor,
    // the one that called run() first), the spare list and the machines'
    // parking fields; lock order: machines_lock, then pool.lock.
    std::mutex machines_lock;
    std::vector<std::unique_ptr<machine>> machines;
    machine* spare_head = nullptr;
    // Machines created beyond the first nprocs (spare threads): with the
    // blocking pool's threads they share options::max_threads - nprocs.
    // Written under machines_lock and pool.lock; read under either.
    std::atomic<unsigned> spare_threads{0};
    // Machines whose processor was handed off while their task runs on
    // (lost): nonzero suppresses the deadlock report. The monitor adds one
    // before the processor has a new holder; the machine subtracts it under
    // sched_lock once its task suspended (after everything the task readied
    // is queued).
    std::atomic<unsigned> nlost{0};
    std::atomic<std::uint64_t> handoffs{0};       // processors handed off (schedtrace)
    std::atomic<std::uint64_t> early_handoffs{0};  // of those, before a full slice: events came (sysmon.cpp)
    std::atomic<std::uint64_t> handoffs_refused{0};  // at max_threads: no spare thread could be had
    sigset_t thread_sigmask{};  // run()'s thread's signal mask, for spare machines

    // Startup: workers report whether their ring came up.
    std::mutex startup_lock;
    std::condition_variable startup_cv;
    unsigned started = 0;
    std::string startup_failure;
};

/// The processor of the calling thread, or nullptr.
processor* current_processor() noexcept;

/// The running runtime, or nullptr.
runtime_state* current_runtime() noexcept;

// Start-up and shutdown (runtime/runtime_lifetime.cpp) use these from the
// scheduler (scheduler.cpp):
/// Makes rt the process's running runtime; false if one runs already.
bool publish_runtime(runtime_state* rt) noexcept;
/// No runtime runs from here on; returns once no foreign thread is inside a
/// goro call that may have seen it (foreign_entry.hpp).
void unpublish_runtime() noexcept;
/// Waits until no foreign thread is inside a goro call (foreign_entry.hpp).
void wait_for_foreign_calls() noexcept;
/// The calling thread runs shutdown's destroy loop (tearing_down()).
void set_tearing_down(bool on) noexcept;
/// Runs processor p on machine m, this thread, until the runtime stops
/// (machine_threads.cpp).
void worker_main(processor& p, machine& m);

/// Registers the process for membarrier(2)'s private expedited command,
/// the thieves' heavy fence of the deques' asymmetric mode
/// (work_deque.hpp); false where the kernel or a seccomp profile refuses.
bool register_steal_fence() noexcept;

/// Pushes onto the global queue (caller holds sched_lock).
void global_push_locked(runtime_state& rt, goroutine* g) noexcept;

/// Makes a goroutine runnable from a thread that is not a processor.
void ready_external(runtime_state& rt, goroutine* g) noexcept;

// Blocking pool (runtime/blocking_pool.cpp).
void pool_submit(runtime_state& rt, blocking_job* job);
void pool_shutdown(runtime_state& rt) noexcept;

// The execution trace (runtime/trace.cpp).
/// Before the processors start: sets up the trace if options::trace or
/// GORO_TRACE asks for one (throws goro::bad_configuration for a bad value).
void trace_start(runtime_state& rt);
/// After the processors and the blocking pool have stopped: writes it.
void trace_finish(runtime_state& rt) noexcept;
/// Around a blocking-pool job: the start time (0 when not tracing), then
/// the job's slice on the calling pool thread's track.
std::int64_t trace_blocking_begin(runtime_state& rt) noexcept;
void trace_blocking_end(runtime_state& rt, std::int64_t start) noexcept;
/// run_goroutine, on a thread whose processor was handed off while its task
/// ran (cold): the run this thread began (trace_run_begin) ends now, on a
/// track of its own ("thread <tid>, handed off"), since the processor's
/// track belongs to its new holder. Nothing when not tracing.
void trace_lost_run(runtime_state& rt, int tid) noexcept;

// Owner only (inline: once per spawn). Throws std::bad_alloc, with nothing
// changed, when the registry must grow and cannot.
inline void registry::insert(goroutine* g) {
    GORO_ASSERT(index == k_external_registry || current_processor() == nullptr ||
                current_processor()->index == index);  // owner only
    if (free_count == 0) [[unlikely]]
        refill();
    registry_slot* slot = free_slots[--free_count];
    g->reg_slot = slot;
    g->reg_home = index;
    // release: publishes the goroutine's fields to readers of the registry.
    slot->g.store(g, std::memory_order_release);
}

inline void registry::erase(goroutine* g, registry* mine) noexcept {
    registry_slot* slot = g->reg_slot;
    if (!slot) return;
    const bool owner_thread = mine && mine->index == g->reg_home;
    g->reg_slot = nullptr;
    // A finished goroutine's chain is empty (each child popped itself);
    // shutdown clears a destroyed one's before it erases it.
    GORO_ASSERT(slot->in_place_child.load(std::memory_order_relaxed) == nullptr);
    // release: the slot may be reused by the owner, which then overwrites it;
    // nothing about g is read through the slot after this.
    slot->g.store(nullptr, std::memory_order_release);
    if (owner_thread) {
        // grow() made room for every slot, and the free list holds each
        // slot at most once.
        GORO_SCHED_ASSERT(mine->free_count < mine->total_slots);
        mine->free_slots[mine->free_count++] = slot;
    }
}

}  // namespace goro::detail
