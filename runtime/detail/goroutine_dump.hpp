// Goroutine dumps: the list of live goroutines with what each waits on, for
// how long, and where it was spawned, printed by the deadlock report, on
// SIGQUIT (as Go's runtime does) and on demand (goro::dump, dump.hpp).
// Internal to the scheduler.
#pragma once

#include <atomic>
#include <cstdint>
#include <source_location>
#include <string>
#include <vector>

#include "scheduler_state.hpp"

namespace goro::detail {

/// What a dump copies out of one live goroutine (see sample_goroutines).
struct goroutine_sample {
    std::uint64_t id = 0;
    const char* reason = nullptr;  // the wait reason; null: runnable or running
    bool running = false;          // a processor's `running` named it
    std::uint32_t waited_ms = 0;   // how long it has waited (when reason)
    bool is_main = false;
    std::source_location spawn_site{};
};

/// Every live goroutine, sorted by id. Safe while the program runs at full
/// load: goroutines that finish meanwhile wait in dump_finish_point until
/// the copy is done (the dump pin, goroutine_dump.cpp), or, where
/// membarrier(2) is refused, the world is stopped for the copy.
/// `world_quiet`: the caller has stopped the world or every processor is
/// idle (SIGQUIT, the deadlock report), so no stop is needed. Throws
/// goro::runtime_error when no safe copy can be had (no membarrier, and a
/// processor runs a goroutine that does not suspend).
/// `sched_lock_held`: the caller holds rt.sched_lock (the deadlock report),
/// which the copy would otherwise take to read the global queue.
std::vector<goroutine_sample> sample_goroutines(runtime_state& rt, bool world_quiet, bool sched_lock_held = false);

/// What sample_registered_goroutine learned.
enum class registered_sample {
    found,       // `out` holds g's id, kind and spawn site
    gone,        // g is no longer registered: it finished
    unreadable,  // membarrier(2) is refused (or a test forces the fallback): no safe read
};

/// The id, kind and spawn site of `g`, which a processor's `running` names,
/// for the monitor's reports: read under the dump pin, and only if `g` is
/// still registered. The pointer alone proves nothing: `running` is cleared
/// by the processor's loop after the resume returns, and in between the
/// goroutine may have parked, been run by another processor, finished and
/// been freed. Scans every registry: for rare reports only (a stall, a
/// hand-off's task). `unreadable` is not "gone": a caller still reports,
/// without the identity.
registered_sample sample_registered_goroutine(runtime_state& rt, const goroutine* g, goroutine_sample& out);

/// One "goroutine N [reason]:" entry per live goroutine, Go's format, with
/// ", N seconds" or ", N minutes" after the reason of a wait of a second or
/// more (Go prints minutes only).
std::string format_goroutines(const std::vector<goroutine_sample>& samples);

/// The same, for the deadlock report and SIGQUIT: the world is stopped (or
/// everyone asleep), or `stopped` is false and the snapshot is racy where
/// membarrier(2) is refused.
std::string describe_goroutines(runtime_state& rt, bool stopped = true, bool sched_lock_held = false);

/// The spawning function's name, readable (g++'s coroutine actor names
/// demangled).
std::string readable_function(const char* name);

/// Called by a processor at the top of its scheduling loop while a dump has
/// asked the world to stop (runtime_state::stop_world): waits, running
/// nothing, until the dump is written.
void world_stop_point(runtime_state& rt) noexcept;

/// Called by a processor that left its scheduling loop for good (the
/// runtime stops): it counts as stopped for every later stop of the world.
void world_exit_point(runtime_state& rt) noexcept;

/// Slow half of dump_finish_point: waits until no dump reads the registries.
void wait_for_dump_readers(runtime_state& rt) noexcept;

/// dump_finish_point's test, for a caller that takes its slow half out of
/// line itself (finish_goroutine: a tail call, so that its fast path saves
/// no registers): true when a dump reads the registries, and the caller
/// must call wait_for_dump_readers before the frame may be freed. The same
/// fence and load as dump_finish_point's (see there).
inline bool dump_finish_must_wait(runtime_state& rt) noexcept {
    std::atomic_signal_fence(std::memory_order_seq_cst);
    return rt.dump_readers.load(std::memory_order_acquire) != 0;
}

/// Called by finish_goroutine after the goroutine left its registry and
/// before its frame may be freed: waits while a dump copies goroutine
/// fields. The light half of the asymmetric fence (a compiler barrier; the
/// dump's membarrier orders the registry store before the load below).
/// acquire: pairs with the dump's release decrement, ordering its reads of
/// the goroutine before the frame's free.
inline void dump_finish_point(runtime_state& rt) noexcept {
    if (dump_finish_must_wait(rt)) [[unlikely]]
        wait_for_dump_readers(rt);
}

/// For tests: makes dumps take the stop-the-world path that they take where
/// membarrier(2) is refused.
void force_dump_stop_the_world(bool on) noexcept;

/// For the life of a run: on SIGQUIT, stops the world (waiting at most a
/// second for goroutines that never suspend), prints "SIGQUIT: quit" and the
/// goroutine dump on stderr, and exits with status 2, as Go does. Installed
/// only when SIGQUIT has its default disposition (a program's own handler
/// wins), and the previous disposition is restored afterwards.
class quit_signal_dumper {
public:
    explicit quit_signal_dumper(runtime_state& rt);
    ~quit_signal_dumper();
    quit_signal_dumper(const quit_signal_dumper&) = delete;
    quit_signal_dumper& operator=(const quit_signal_dumper&) = delete;

private:
    struct impl;
    impl* m_impl = nullptr;
};

}  // namespace goro::detail
