// Goroutine dumps (deadlock report, SIGQUIT). See detail/goroutine_dump.hpp.
//
// SIGQUIT path: the signal handler only writes to an eventfd (async-signal
// safe). A dump thread, blocked reading that eventfd for the life of the run,
// then asks the processors to stop (runtime_state::stop_world): each one
// checks the flag at the top of its scheduling loop and waits there, so no
// goroutine runs, finishes or is freed while the registries are read. Parked
// processors count as stopped: one that wakes up checks the flag before
// running anything. A processor stuck in a goroutine that never suspends
// cannot stop; after a second the dump is written anyway (marked as racy),
// since a stuck program is exactly what people send SIGQUIT to.

#include "detail/goroutine_dump.hpp"
#include "detail/fatal.hpp"

#include <cxxabi.h>
#include <fmt/core.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <thread>

#include "detail/scheduler_state.hpp"
#include "detail/signal_watch.hpp"

namespace goro::detail {

namespace {

// The function a spawn site names, readable. Inside a coroutine, g++ 12's
// source_location::function_name() is the coroutine's actor function, whose
// one parameter is the frame type, named after the mangled coroutine:
// "goro::task<void> serve(_ZN4goro3net5serveE....Frame*)", or for a lambda
// "f()::<lambda()>::operator()(f()::<lambda()>::_ZZ...Frame*)". The mangled name
// demangles to the coroutine's own signature, which is what a reader wants.
// Anything else (clang's names, plain functions) is returned as it is.
std::string readable_function(const char* name) {
    const std::string_view n(name);
    const std::size_t frame = n.rfind(".Frame*)");
    if (frame == std::string_view::npos) return std::string(n);
    // The frame type may be qualified ("f()::<lambda()>::_ZZ...Frame*"): the
    // mangled name is the last "_Z..." word before ".Frame".
    const std::size_t z = n.rfind("_Z", frame);
    if (z == std::string_view::npos || z == 0 || (n[z - 1] != '(' && n[z - 1] != ':')) return std::string(n);
    const std::string mangled(n.substr(z, frame - z));
    int status = 0;
    char* demangled = abi::__cxa_demangle(mangled.c_str(), nullptr, nullptr, &status);
    if (status != 0 || !demangled) return std::string(n);
    std::string out(demangled);
    std::free(demangled);
    return out;
}

}  // namespace

std::string describe_goroutines(runtime_state& rt) {
    std::string out;
    auto describe = [&](goroutine* g) {
        const char* reason = g->wait_reason.load(std::memory_order_relaxed);
        out += fmt::format("\ngoroutine {} [{}]:\n", g->id, reason ? reason : "runnable or running");
        if (g->kind == goroutine_kind::main)
            out += "\tmain task (goro::run)\n";
        else
            out += fmt::format("\tspawned at {}:{} in {}\n", g->spawn_site.file_name(), g->spawn_site.line(),
                               readable_function(g->spawn_site.function_name()));
    };
    {
        std::lock_guard guard(rt.external_lock);
        rt.external_goroutines.for_each(describe);
    }
    for (auto& p : rt.procs) p->goroutines.for_each(describe);
    return out;
}

void world_stop_point(runtime_state& rt) noexcept {
    std::unique_lock guard(rt.stw_lock);
    ++rt.stw_stopped;
    rt.stw_cv.notify_all();
    rt.stw_cv.wait(guard, [&] { return !rt.stop_world.load(std::memory_order_relaxed); });
    --rt.stw_stopped;
}

namespace {

// The eventfd the handler writes to; -1 when no dumper is installed.
std::atomic<int> g_quit_fd{-1};

void on_sigquit(int) {
    const int saved_errno = errno;
    const int fd = g_quit_fd.load(std::memory_order_relaxed);
    if (fd >= 0) {
        const std::uint64_t one = 1;
        [[maybe_unused]] const ssize_t n = ::write(fd, &one, sizeof one);
    }
    errno = saved_errno;
}

// Asks every processor to stop and waits until each is stopped or parked
// (at most `patience`). Returns whether the world did stop.
bool stop_the_world(runtime_state& rt, std::chrono::milliseconds patience) {
    // seq_cst: ordered before the idle count read below; a processor leaving
    // the idle list afterwards re-checks the flag before running anything.
    rt.stop_world.store(true, std::memory_order_seq_cst);
    for (auto& p : rt.procs) {
        // Parked processors need not wake, but waking them is harmless and
        // lets them stop at the flag rather than race past it later.
        if (!p->wake_pending.exchange(true, std::memory_order_acq_rel)) p->netpoll->wake();
    }
    // Parked processors count as stopped: one that wakes up leaves the idle
    // list (under sched_lock) and checks the flag before running anything.
    // The idle count changes without notifying stw_cv, hence the polling.
    const auto give_up = std::chrono::steady_clock::now() + patience;
    for (;;) {
        unsigned idle;
        {
            std::lock_guard guard(rt.sched_lock);
            idle = rt.npidle.load(std::memory_order_relaxed);
        }
        std::unique_lock guard(rt.stw_lock);
        if (rt.stw_stopped + idle >= rt.nprocs) return true;
        if (std::chrono::steady_clock::now() >= give_up) return false;
        rt.stw_cv.wait_for(guard, std::chrono::milliseconds(5));
    }
}

}  // namespace

struct quit_signal_dumper::impl {
    runtime_state& rt;
    int fd = -1;
    struct sigaction previous {};
    std::atomic<bool> closing{false};
    std::thread thread;

    explicit impl(runtime_state& r) : rt(r) {}

    void loop() {
        for (;;) {
            std::uint64_t value = 0;
            const ssize_t n = ::read(fd, &value, sizeof value);
            if (n < 0 && errno == EINTR) continue;
            if (closing.load(std::memory_order_acquire)) return;
            if (n != sizeof value) continue;
            dump_and_exit();  // the world is never restarted: Go exits too
        }
    }

    [[noreturn]] void dump_and_exit() {
        const bool stopped = stop_the_world(rt, std::chrono::seconds(1));
        std::string out = "SIGQUIT: quit\n";
        out += "netpoll: ";
        out += rt.netpoll_name;
        out += "\n";
        // A task that runs on after its processor was handed off never
        // stops either (runtime/handoff.cpp).
        if (!stopped || rt.nlost.load(std::memory_order_relaxed) != 0)
            out += "(some processor is running a goroutine that does not suspend; the list below is a racy "
                   "snapshot)\n";
        out += describe_goroutines(rt);
        fatal_exit(out);
    }
};

quit_signal_dumper::quit_signal_dumper(runtime_state& rt) {
    {
        // Only where SIGQUIT has its default action and no goro::signal
        // watch has it: the program's own handling wins.
        struct sigaction current {};
        if (::sigaction(SIGQUIT, nullptr, &current) != 0 || current.sa_handler != SIG_DFL ||
            (current.sa_flags & SA_SIGINFO))
            return;  // the program handles (or ignores) SIGQUIT itself
    }
    auto* state = new impl(rt);
    state->fd = ::eventfd(0, EFD_CLOEXEC);
    if (state->fd < 0) {
        delete state;
        return;  // no dump on SIGQUIT; never a reason to fail the run
    }
    try {
        state->thread = std::thread([state] { state->loop(); });
    } catch (...) {
        ::close(state->fd);
        delete state;
        return;
    }
    g_quit_fd.store(state->fd, std::memory_order_relaxed);
    // Checks again and installs under goro::signal's lock (signal_watch.hpp),
    // so that a watch of SIGQUIT made meanwhile wins and records our handler
    // as the one it replaced.
    if (!install_default_signal_handler(SIGQUIT, on_sigquit, &state->previous)) {
        g_quit_fd.store(-1, std::memory_order_relaxed);
        state->closing.store(true, std::memory_order_release);
        const std::uint64_t one = 1;
        [[maybe_unused]] const ssize_t n = ::write(state->fd, &one, sizeof one);
        state->thread.join();
        ::close(state->fd);
        delete state;
        return;
    }
    m_impl = state;
}

quit_signal_dumper::~quit_signal_dumper() {
    if (!m_impl) return;
    // Puts back what was there before, unless a goro::signal watch of SIGQUIT
    // is in place: that watch then puts it back when it stops.
    remove_default_signal_handler(SIGQUIT, on_sigquit, m_impl->previous);
    g_quit_fd.store(-1, std::memory_order_relaxed);
    m_impl->closing.store(true, std::memory_order_release);
    const std::uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = ::write(m_impl->fd, &one, sizeof one);
    m_impl->thread.join();
    ::close(m_impl->fd);
    delete m_impl;
}

}  // namespace goro::detail
