// goro::signal (signal.hpp): handler, registry and delivery thread.
//
// ## Pieces
//
//   - on_signal, the handler installed for every watched signal. It does
//     only async-signal-safe things: an atomic fetch_or on g_pending (one bit
//     per signal) and a write(2) to the eventfd g_wake_fd.
//   - The registry (one per process, under `mu`): the watches (one per
//     notified channel, one per notify_context), how many watches want each
//     signal, the disposition each signal had before goro's handler replaced
//     it, and whether the delivery thread runs. Every sigaction() goro makes,
//     the SIGQUIT dump's included (detail/signal_watch.hpp), happens under
//     `mu`, so "what was there before" is always recorded by whoever
//     replaced it.
//   - The delivery thread: waits for the eventfd, takes g_pending (exchange
//     with 0) and snapshots the watches of those signals under `mu`, and delivers
//     to each outside `mu`: chan::try_send or a cancel_func call, both of
//     which enter the runtime as a foreign thread (detail/foreign_entry.hpp).
//
// ## Why the delivery thread holds no registry lock while it delivers
//
// A delivery entering a runtime that is shutting down waits in
// foreign_entry until shutdown has destroyed every suspended task. Those
// destructors may stop watches (a stop_func in a task frame). If the thread
// held `mu`, stop() would wait for the thread and the thread for stop():
// a deadlock. So the thread holds only the watch's own `deliver_mu`, and
// stop() waits for `deliver_mu` only where that cannot happen: not on the
// thread that runs the final destruction loop (tearing_down()). There it
// just sets `stopped`; the delivery in progress, if any, finishes against
// tasks that no longer exist (nothing is parked any more, see
// foreign_entry.hpp), which is harmless.
//
// ## The thread's life
//
// Started (every signal blocked) by the first watch when none runs, with
// the registry's current `generation`. The stop() that removes the last
// watch retires it: bumps `generation`, takes the std::thread out of the
// registry, wakes the thread and, after letting go of `mu`, joins it, so
// that when the last stop() returns no goro::signal thread is left (a
// program that forks next forks a single-threaded process, which
// ThreadSanitizer insists on). The thread sees its generation is not the
// current one and exits; run() never waits for it. A watch made meanwhile
// starts a new thread with the new generation, so two threads may wait at
// once: each polls the shared eventfd (non-blocking, level-triggered) and
// an eventfd of its own, which only its retirement writes. A woken thread
// looks at `generation` under `mu` before it reads the shared eventfd or
// g_pending: a retired one leaves both to the current thread and exits;
// the retirement's write to its own eventfd wakes it even when the current
// thread took the shared wake-up first. On the teardown thread, where the join
// could deadlock (above), the retired thread is detached instead, as it is
// when a notify() that started it fails. The registry is never destroyed (a
// detached thread may outlive static destructors at exit).
//
// ## fork()
//
// A child process inherits the handlers and the registry but not the
// thread, and shares the eventfd with its parent. pthread_atfork handlers
// hold `mu` across the fork; in the child they forget the parent's thread
// and give the child an eventfd of its own, so the next watch made in the
// child starts a delivery thread that the parent's cannot starve.
#include "signal.hpp"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>  // sigdescr_np (glibc 2.32)
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <cstdint>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "detail/goroutine.hpp"
#include "detail/invariant.hpp"
#include "detail/signal_watch.hpp"

namespace goro::signal {

namespace detail {

/// One watch: a notified channel, or a notify_context's context.
struct watch {
    // Immutable after creation.
    bool is_context = false;
    // The target. Set at creation; read by the delivery thread under
    // deliver_mu; dropped by stop under deliver_mu (so that the last handle
    // of the channel or context goes on the stopping thread, not on the
    // delivery thread). The channel also names the watch for stop(c), read
    // under the registry's mu while the watch is registered.
    chan<int> ch = chan<int>::nil();
    cancel_func cancel;
    // The signals this watch wants (bit signo - 1). Guarded by the registry's mu.
    std::uint64_t mask = 0;
    // Held by the delivery thread while it delivers to this watch; stop()
    // takes it to wait for such a delivery (never on the teardown thread,
    // see the file comment).
    std::mutex deliver_mu;
    // Set by stop(). Written with or without deliver_mu (the teardown case),
    // hence atomic; the delivery thread reads it under deliver_mu. Relaxed:
    // with the lock, the lock orders it; without (teardown), any delivery
    // that still happens is harmless, as explained above.
    std::atomic<bool> stopped{false};
};

}  // namespace detail

namespace {

using goro::signal::detail::watch;

// Signals 1.._NSIG-1, one bit each in a 64-bit word.
constexpr int k_max_signo = _NSIG - 1;
static_assert(k_max_signo <= 64, "one bit per signal in a 64-bit mask");
constexpr std::uint64_t bit(int signo) noexcept { return std::uint64_t{1} << (signo - 1); }

// ---- what the handler touches (async-signal-safe: lock-free atomics) ----

// Signals caught and not yet taken by the delivery thread. fetch_or
// (release) by the handler; exchange(0) (acquire) by the current delivery
// thread, under mu, after it read the eventfd. Only the bits travel: the handler's write(2) after the
// fetch_or, and the thread's read(2) before the exchange, order the two
// through the kernel's eventfd lock; a bit set after the exchange comes
// with a write of its own, so the thread wakes for it again.
std::atomic<std::uint64_t> g_pending{0};
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
// The eventfd: created once (under mu) before any handler is installed and
// never closed (a handler may be using it), except the parent's copy in a
// forked child. Relaxed: stored before sigaction() installs the handler,
// which orders it for the handler.
std::atomic<int> g_wake_fd{-1};
static_assert(std::atomic<int>::is_always_lock_free);

// Mirrors registry::watches.size() for the deadlock detector. Written under
// mu; read without it (relaxed: a snapshot, see signal_watch.hpp).
std::atomic<std::size_t> g_watch_count{0};

extern "C" void on_signal(int signo) {
    const int saved_errno = errno;
    if (signo >= 1 && signo <= k_max_signo) g_pending.fetch_or(bit(signo), std::memory_order_release);
    const int fd = g_wake_fd.load(std::memory_order_relaxed);
    if (fd >= 0) {
        const std::uint64_t one = 1;
        [[maybe_unused]] const ssize_t n = ::write(fd, &one, sizeof one);
    }
    errno = saved_errno;
}

// ---- the registry ----

struct registry {
    std::mutex mu;
    std::vector<std::shared_ptr<watch>> watches;  // guarded by mu
    // How many watches want each signal (index signo). Guarded by mu.
    unsigned count[k_max_signo + 1] = {};
    // The disposition goro's handler replaced; meaningful while count > 0.
    // Guarded by mu.
    struct sigaction saved[k_max_signo + 1] = {};
    // The current delivery thread (null: none). Guarded by mu. A pointer, so
    // that a forked child can forget its parent's thread without joining.
    std::unique_ptr<std::thread> thread;
    // Its own eventfd, written once to retire it; the thread closes it when
    // it exits. Guarded by mu.
    int thread_fd = -1;
    // The current thread's generation; bumped when one starts and when one
    // is retired. Guarded by mu.
    std::uint64_t generation = 0;
};

void atfork_prepare() noexcept;
void atfork_parent() noexcept;
void atfork_child() noexcept;

registry& reg() {
    // Never destroyed: the detached delivery thread may still run while
    // static destructors do, at exit.
    static registry* const r = [] {
        auto* made = new registry;
        ::pthread_atfork(&atfork_prepare, &atfork_parent, &atfork_child);
        return made;
    }();
    return *r;
}

void atfork_prepare() noexcept { reg().mu.lock(); }
void atfork_parent() noexcept { reg().mu.unlock(); }
void atfork_child() noexcept {
    registry& r = reg();
    // Only the forking thread exists in the child: no delivery thread. Its
    // std::thread cannot be joined or detached here; it is left behind.
    (void)r.thread.release();
    if (r.thread_fd >= 0) ::close(r.thread_fd);
    r.thread_fd = -1;
    ++r.generation;
    const int old = g_wake_fd.load(std::memory_order_relaxed);
    if (old >= 0) {
        const int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        g_wake_fd.store(fd, std::memory_order_relaxed);  // -1 if it failed: a watch made later retries
        ::close(old);
    }
    r.mu.unlock();
}

void deliver(watch& w, int signo) noexcept {
    std::lock_guard guard(w.deliver_mu);
    if (w.stopped.load(std::memory_order_relaxed)) return;
    if (w.is_context) {
        w.cancel(make_error_code(signo));  // the first cause wins; later signals change nothing
        return;
    }
    try {
        (void)w.ch.try_send(signo);  // full: dropped, as Go does
    } catch (const goro::runtime_error&) {
        // The program closed a channel it had not stopped: Go would panic in
        // its signal goroutine; goro drops the signal.
    }
}

// The delivery thread: `fd` is the shared eventfd, `own` its own.
void delivery_loop(int fd, int own, std::uint64_t generation) noexcept {
    registry& r = reg();
    std::vector<std::pair<std::shared_ptr<watch>, std::uint64_t>> targets;
    for (;;) {
        pollfd fds[2] = {{fd, POLLIN, 0}, {own, POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0) continue;  // EINTR (every signal is blocked here, though)
        std::uint64_t bits;
        {
            std::lock_guard guard(r.mu);
            if (r.generation != generation) {  // retired: the shared eventfd is the current thread's
                ::close(own);
                return;
            }
            std::uint64_t count = 0;
            [[maybe_unused]] const ssize_t n = ::read(fd, &count, sizeof count);  // EAGAIN: taken already
            bits = g_pending.exchange(0, std::memory_order_acquire);
            if (bits) {
                try {
                    for (auto& w : r.watches)
                        if (w->mask & bits) targets.emplace_back(w, w->mask & bits);
                } catch (const std::bad_alloc&) {
                    // Out of memory: the watches not listed miss this signal.
                }
            }
        }
        for (int signo = 1; signo <= k_max_signo; ++signo) {
            if (!(bits & bit(signo))) continue;
            for (auto& [w, wanted] : targets)
                if (wanted & bit(signo)) deliver(*w, signo);
        }
        targets.clear();  // the last reference to a stopped watch may go here: an empty shell
    }
}

// Retires the current delivery thread, if any (mu held): its own eventfd
// wakes it, and it exits. The caller joins (or detaches) the returned
// thread after letting go of mu.
std::unique_ptr<std::thread> retire_thread_locked(registry& r) noexcept {
    if (!r.thread) return nullptr;
    ++r.generation;
    const std::uint64_t one = 1;
    // Before the thread can close it: it closes it under mu, after seeing
    // the new generation.
    [[maybe_unused]] const ssize_t n = ::write(r.thread_fd, &one, sizeof one);
    r.thread_fd = -1;
    return std::move(r.thread);
}

// Waits for a retired thread to exit, except where that could deadlock
// (the teardown thread, see the file comment): there it is detached.
void end_thread(std::unique_ptr<std::thread> t) noexcept {
    if (!t) return;
    if (goro::detail::tearing_down())
        t->detach();
    else
        t->join();
}

// Starts the delivery thread (and makes the eventfd) if needed. mu held.
// Throws startup_error when the OS refuses either.
void ensure_thread_locked(registry& r) {
    if (g_wake_fd.load(std::memory_order_relaxed) < 0) {
        const int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (fd < 0)
            throw startup_error(std::string("goro::signal: eventfd: ") + std::strerror(errno));
        g_wake_fd.store(fd, std::memory_order_relaxed);
    }
    if (r.thread) return;
    const int own = ::eventfd(0, EFD_CLOEXEC);
    if (own < 0) throw startup_error(std::string("goro::signal: eventfd: ") + std::strerror(errno));
    // The thread starts with every signal blocked: the handler runs on the
    // program's threads, never in the middle of a delivery.
    sigset_t all, old;
    ::sigfillset(&all);
    ::pthread_sigmask(SIG_SETMASK, &all, &old);
    try {
        const std::uint64_t generation = r.generation + 1;
        r.thread = std::make_unique<std::thread>(delivery_loop, g_wake_fd.load(std::memory_order_relaxed), own,
                                                 generation);
        r.generation = generation;
        r.thread_fd = own;
        // Named here rather than by the thread, so that it is named when
        // notify() returns (for ps, top and gdb; a test looks for it).
        ::pthread_setname_np(r.thread->native_handle(), "goro-signal");
    } catch (const std::exception& e) {
        ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
        ::close(own);
        throw startup_error(std::string("goro::signal: cannot start the delivery thread: ") + e.what());
    }
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

bool uncatchable(int signo) noexcept {
    switch (signo) {
    case SIGKILL:
    case SIGSTOP:
    case SIGSEGV:
    case SIGBUS:
    case SIGFPE:
    case SIGILL:
        return true;
    default:
        // 32 and 33: glibc's own (thread cancellation, setxid); SIGRTMIN is
        // above them.
        return signo < 1 || signo > k_max_signo || signo > SIGRTMAX || (signo > SIGSYS && signo < SIGRTMIN);
    }
}

std::uint64_t mask_of(std::initializer_list<int> signals) {
    if (signals.size() == 0)
        throw invalid_signal("goro::signal: no signals given (name them: Go's \"all signals\" form is not offered)");
    std::uint64_t mask = 0;
    for (int signo : signals) {
        if (uncatchable(signo))
            throw invalid_signal("goro::signal: signal " + std::to_string(signo) + " cannot be watched");
        mask |= bit(signo);
    }
    return mask;
}

// First watch of signo: installs on_signal, remembering what it replaces.
// mu held. Throws invalid_signal if the kernel refuses.
void acquire_locked(registry& r, int signo) {
    if (r.count[signo]++ > 0) return;
    struct sigaction action {};
    action.sa_handler = on_signal;
    ::sigemptyset(&action.sa_mask);
    // SA_RESTART: an interrupted system call of the program's resumes;
    // SA_ONSTACK: a thread with an alternate signal stack keeps using it.
    action.sa_flags = SA_RESTART | SA_ONSTACK;
    if (::sigaction(signo, &action, &r.saved[signo]) != 0) {
        --r.count[signo];
        throw invalid_signal("goro::signal: signal " + std::to_string(signo) + " cannot be watched: " +
                             std::strerror(errno));
    }
}

// Last watch of signo gone: puts back what on_signal replaced. mu held.
void release_locked(registry& r, int signo) noexcept {
    GORO_ASSERT(r.count[signo] > 0);
    if (--r.count[signo] > 0) return;
    ::sigaction(signo, &r.saved[signo], nullptr);
}

// Adds `mask` to w's signals, installing handlers where needed; registers w
// if `fresh`. All or nothing. mu held.
void add_locked(registry& r, const std::shared_ptr<watch>& w, std::uint64_t mask, bool fresh) {
    if (fresh) r.watches.reserve(r.watches.size() + 1);  // the push_back below cannot throw
    ensure_thread_locked(r);
    const std::uint64_t added = mask & ~w->mask;
    int signo = 1;
    try {
        for (; signo <= k_max_signo; ++signo)
            if (added & bit(signo)) acquire_locked(r, signo);
    } catch (...) {
        for (int s = 1; s < signo; ++s)
            if (added & bit(s)) release_locked(r, s);
        // A thread started for nothing: retired and detached (no join under mu).
        if (r.watches.empty())
            if (auto t = retire_thread_locked(r)) t->detach();
        throw;
    }
    w->mask |= added;
    if (fresh) r.watches.push_back(w);
    g_watch_count.store(r.watches.size(), std::memory_order_relaxed);
}

// Takes w out of the registry and releases its signals. mu held. False if
// it was not registered (stopped already). The last watch retires the
// delivery thread: *retired, to end outside mu (end_thread).
bool remove_locked(registry& r, const std::shared_ptr<watch>& w, std::unique_ptr<std::thread>* retired) noexcept {
    auto it = std::find(r.watches.begin(), r.watches.end(), w);
    if (it == r.watches.end()) return false;
    for (int signo = 1; signo <= k_max_signo; ++signo)
        if (w->mask & bit(signo)) release_locked(r, signo);
    w->mask = 0;
    r.watches.erase(it);
    g_watch_count.store(r.watches.size(), std::memory_order_relaxed);
    if (r.watches.empty()) *retired = retire_thread_locked(r);
    return true;
}

// After remove_locked, outside mu: no delivery to w from now on.
void finish_stop(watch& w) noexcept {
    w.stopped.store(true, std::memory_order_relaxed);
    if (goro::detail::tearing_down()) return;  // see the file comment: never wait here
    // Waits for a delivery in progress (it holds deliver_mu); any later one
    // sees `stopped`. The target's handles go here, on this thread.
    std::lock_guard guard(w.deliver_mu);
    w.ch = chan<int>::nil();
    w.cancel = cancel_func();
}

class signal_category_impl : public std::error_category {
public:
    const char* name() const noexcept override { return "goro.signal"; }
    std::string message(int signo) const override {
        // Go prints an os.Signal in lower case ("interrupt", "terminated").
        const char* d = signo >= 1 && signo <= k_max_signo ? ::sigdescr_np(signo) : nullptr;
        std::string s = d ? d : "signal " + std::to_string(signo);
        if (!s.empty() && s[0] >= 'A' && s[0] <= 'Z') s[0] = static_cast<char>(s[0] - 'A' + 'a');
        return s + " signal received";
    }
};

}  // namespace

const std::error_category& category() noexcept {
    static const signal_category_impl c;
    return c;
}

void notify(const chan<int>& c, std::initializer_list<int> signals) {
    if (c.is_nil()) throw runtime_error("os/signal: Notify using nil channel");
    const std::uint64_t mask = mask_of(signals);
    registry& r = reg();
    std::lock_guard guard(r.mu);
    for (auto& w : r.watches) {
        if (!w->is_context && w->ch == c) {
            add_locked(r, w, mask, false);
            return;
        }
    }
    auto w = std::make_shared<watch>();
    w->ch = c;
    add_locked(r, w, mask, true);
}

void stop(const chan<int>& c) noexcept {
    if (c.is_nil()) return;
    registry& r = reg();
    std::shared_ptr<watch> found;
    std::unique_ptr<std::thread> retired;
    {
        std::lock_guard guard(r.mu);
        for (auto& w : r.watches) {
            if (!w->is_context && w->ch == c) {
                found = w;
                break;
            }
        }
        if (!found) return;
        remove_locked(r, found, &retired);
    }
    finish_stop(*found);
    end_thread(std::move(retired));
}

void stop_func::operator()() const noexcept {
    if (!m_watch) return;
    m_cancel();  // Go's stop: cancel first, then signal.Stop
    registry& r = reg();
    bool removed;
    std::unique_ptr<std::thread> retired;
    {
        // A concurrent second call finds the watch removed already (the
        // first one removed it under mu before this call got it).
        std::lock_guard guard(r.mu);
        removed = remove_locked(r, m_watch, &retired);
    }
    if (removed) finish_stop(*m_watch);
    end_thread(std::move(retired));
}

context_and_stop notify_context(const context& parent, std::initializer_list<int> signals) {
    const std::uint64_t mask = mask_of(signals);
    auto [ctx, cancel] = with_cancel(parent);
    auto w = std::make_shared<detail::watch>();
    w->is_context = true;
    w->cancel = cancel;
    registry& r = reg();
    {
        std::lock_guard guard(r.mu);
        add_locked(r, w, mask, true);
    }
    return {std::move(ctx), stop_func(std::move(w), std::move(cancel))};
}

}  // namespace goro::signal

namespace goro::detail {

bool signal_watch_active() noexcept { return goro::signal::g_watch_count.load(std::memory_order_relaxed) != 0; }

bool install_default_signal_handler(int signo, void (*handler)(int), struct sigaction* previous) noexcept {
    auto& r = goro::signal::reg();
    std::lock_guard guard(r.mu);
    if (r.count[signo] > 0) return false;  // a watch has it: the program asked for it
    struct sigaction current {};
    if (::sigaction(signo, nullptr, &current) != 0 || current.sa_handler != SIG_DFL ||
        (current.sa_flags & SA_SIGINFO))
        return false;  // the program handles (or ignores) it itself
    struct sigaction action {};
    action.sa_handler = handler;
    ::sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    return ::sigaction(signo, &action, previous) == 0;
}

void remove_default_signal_handler(int signo, void (*handler)(int), const struct sigaction& previous) noexcept {
    auto& r = goro::signal::reg();
    std::lock_guard guard(r.mu);
    auto is_ours = [&](const struct sigaction& a) { return !(a.sa_flags & SA_SIGINFO) && a.sa_handler == handler; };
    if (r.count[signo] > 0) {
        // A watch replaced our handler and will put back what it replaced:
        // make that `previous` instead.
        if (is_ours(r.saved[signo])) r.saved[signo] = previous;
        return;
    }
    struct sigaction current {};
    if (::sigaction(signo, nullptr, &current) == 0 && is_ours(current)) ::sigaction(signo, &previous, nullptr);
}

}  // namespace goro::detail
