// goro::run — start the runtime, run a main task to completion, stop.
//
//     goro::task<int> main_task() { ...; co_return 0; }
//     int main() { return goro::run(main_task(), {.procs = 4}); }
//
// run() turns the calling thread into logical processor 0 and starts procs-1
// more worker threads. It returns main's result as soon as main finishes, as
// a Go program exits when main returns: tasks still suspended then are
// destroyed (their destructors run), in-flight I/O is cancelled and drained,
// blocking calls already running are waited for, and every thread is joined
// before run() returns.
//
// An exception escaping the main task is rethrown by run() after that
// shutdown. The main task is a goroutine, so if nothing catches it the
// program ends as Go's does on a panic: "panic: <what()>", "goroutine 1" and
// the call site of run() on stderr, exit status 2 (no abort, no core dump).
// A caller may catch it instead (tests do). goro's own start-up and
// configuration errors (goro::startup_error, goro::bad_configuration) that
// nobody catches end the same way with their one-line message.
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <source_location>
#include <string>

#include "detail/fatal.hpp"
#include "error.hpp"
#include "task.hpp"

namespace goro {

/// What a panic handler is told about an exception that escaped a detached task.
struct panic_info {
    std::exception_ptr error;
    std::source_location spawn_site;  // where goro::go / goro::spawn was called
    std::uint64_t goroutine_id;
};

/// The I/O driver behind the netpoller (goro::netpoller() names the one in use).
enum class netpoll_kind {
    automatic,  // GORO_NETPOLL if set, else io_uring where it works, else epoll
    io_uring,   // io_uring only: start-up fails with the reason where it is blocked
    epoll,      // epoll (readiness; files and opens on the blocking pool)
};

struct options {
    /// Logical processors (worker threads running tasks). 0 means the
    /// GORO_MAXPROCS environment variable if set, else usable_cpus(): the CPUs
    /// this process may use (its affinity mask, capped by its cgroups' quota).
    unsigned procs = 0;
    /// Hard cap on the runtime's OS threads: workers plus blocking-pool threads
    /// (Go's debug.SetMaxThreads, default 10000). procs > max_threads is an error.
    unsigned max_threads = 10000;
    /// Called, on the thread where it happened, when an exception escapes a
    /// detached task; the task is then gone and the program goes on. When empty,
    /// goro prints "panic: <what()>" with the spawn site and exits with status 2.
    std::function<void(const panic_info&)> panic_handler{};
    /// Stop with "fatal error: all goroutines are asleep - deadlock!" (exit 2)
    /// when every task is blocked and no timer, I/O or blocking call is pending.
    /// Turn off if tasks are woken by threads the runtime does not know about.
    bool detect_deadlock = true;
    /// A blocking-pool thread idle this long exits.
    std::chrono::milliseconds blocking_idle_timeout{10'000};
    /// The netpoller's driver. automatic: the GORO_NETPOLL environment
    /// variable (io_uring or epoll) if set, else io_uring where a ring can be
    /// set up and entered, else epoll (a container whose seccomp profile
    /// blocks io_uring, a kernel with kernel.io_uring_disabled).
    netpoll_kind netpoll = netpoll_kind::automatic;
    /// The time slice (Go's 10 ms scheduling quantum). A task readied by the
    /// running task runs next on the same processor and inherits its time
    /// slice, as in Go: a pair of tasks that hand work back and forth keeps
    /// its processor for one slice, then queues behind the other runnable
    /// tasks there. (A task that never suspends is not pre-empted: it keeps
    /// its processor past the slice; GORO_DEBUG=stuck=<ms> reports it.)
    /// GORO_DEBUG=timeslice=<ms> overrides it; 0 means slices never expire.
    std::chrono::milliseconds time_slice{10};
    /// Records an execution trace and writes it to this file when run()
    /// returns (Chrome Trace Event JSON: open it in Perfetto or
    /// chrome://tracing, or draw it with scripts/trace_view.py). Empty: the
    /// GORO_TRACE environment variable if set, else no trace. A process's
    /// second traced run writes <name>-2.<ext>, the third <name>-3.<ext>, ...
    std::string trace{};
    /// Trace events kept per processor: a ring of the last this many.
    std::size_t trace_events = 1u << 16;
};

namespace detail {
/// Runs the runtime until the main goroutine (already set up, not started) finishes.
void run_runtime(goroutine* main_goroutine, std::coroutine_handle<> main_frame, const options& opts);
// time.cpp: bracket a runtime's life, so that the end of the last running
// runtime frees the timers still pending at its shutdown (see time.hpp).
void runtime_lifetime_begin() noexcept;
void runtime_lifetime_end() noexcept;
}  // namespace detail

/// Runs `main` on a new runtime and returns its result (rethrowing its
/// exception: uncaught, it is a panic, see above). Throws
/// goro::bad_configuration for impossible options (or GORO_MAXPROCS),
/// goro::startup_error when the OS refuses what the runtime needs (io_uring,
/// threads), and goro::runtime_error when a runtime is already running in
/// this process.
template <typename T>
T run(task<T> main, options opts = {}, std::source_location site = std::source_location::current()) {
    detail::install_uncaught_handler();
    auto handle = main.release();
    if (!handle) throw runtime_error("goro::run: the main task is empty");
    struct frame_guard {
        typename task<T>::handle_type h;
        ~frame_guard() { h.destroy(); }
    } guard{handle};
    auto& promise = handle.promise();
    // No spawn site: the main goroutine has none to show.
    detail::prepare_root(promise, handle, detail::goroutine_kind::main, std::source_location{});
    {
        struct lifetime {
            lifetime() noexcept { detail::runtime_lifetime_begin(); }
            ~lifetime() { detail::runtime_lifetime_end(); }  // also when start-up throws
            lifetime(const lifetime&) = delete;
            lifetime& operator=(const lifetime&) = delete;
        } const bracket;
        detail::run_runtime(&promise, handle, opts);
    }
    if (promise.exception) detail::note_main_exception(promise.exception, site);
    return promise.take_result();
}

/// The number of logical processors of the running runtime (GOMAXPROCS).
/// Throws goro::no_runtime outside goro::run.
unsigned procs();

/// The netpoller (I/O driver) of the running runtime: "io_uring". Throws
/// goro::no_runtime outside goro::run.
const char* netpoller();

/// The number of goroutines that exist now (started and not finished), main included.
/// Throws goro::no_runtime outside goro::run.
std::size_t num_goroutines();

/// The CPUs this process may use: the affinity mask, capped by the CPU quota
/// of its cgroup and the cgroup's ancestors (v2 cpu.max, v1 cpu.cfs_quota_us;
/// rounded up, at least 1). The default for options::procs.
unsigned usable_cpus() noexcept;

}  // namespace goro
