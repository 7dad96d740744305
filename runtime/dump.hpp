// goro::dump — the list of live tasks, on demand, while the program runs
// (Go's pprof goroutine?debug=2): what SIGQUIT prints, without exiting.
//
//     goro::dump();                       // on stderr
//     goro::dump(log_file);               // any FILE*
//     goro::dump([&](std::string_view s) { my_log(s); });
//     for (auto& g : goro::goroutines())  // the same, as records
//         if (g.waiting > 1min) ...
//
// Each entry is Go's: "goroutine 7 [chan receive, 5 minutes]:" then the
// line that spawned it. A wait of a second or more shows its length
// (seconds are goro's addition; Go starts at a minute). Callable from a
// task or from any thread while a runtime runs; safe at full load: tasks
// keep running, and one that finishes while the dump copies the list waits
// until the copy is done to free its frame (see runtime/goroutine_dump.cpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace goro {

/// One live task, as a dump lists it.
struct goroutine_record {
    std::uint64_t id = 0;
    /// What it waits for, in Go's words ("chan receive", "select", "sleep",
    /// "IO wait", "sync.Mutex.Lock", "join", ...); "running" while a
    /// processor runs it; "runnable" while it waits in a run queue.
    std::string state;
    /// How long it has waited for `state` (zero when running or runnable).
    /// Read from a coarse clock: a few milliseconds of resolution.
    std::chrono::milliseconds waiting{0};
    /// The task given to goro::run.
    bool main = false;
    /// Where goro::go, goro::spawn or group::go was called (empty for main).
    std::string file;
    unsigned line = 0;
    std::string function;
};

/// Every live task, by id (a snapshot: tasks start and finish meanwhile).
/// Throws goro::no_runtime when no runtime runs.
std::vector<goroutine_record> goroutines();

/// The dump as text, in the format SIGQUIT prints.
std::string dump_string();

/// Writes the dump to `out` (stderr by default) and flushes it. The text is
/// built first, then written: a slow reader delays only the caller.
void dump(std::FILE* out = stderr);

/// Hands the dump to `write`, in one piece.
void dump(const std::function<void(std::string_view)>& write);

}  // namespace goro
