// goro::signal — Go's os/signal: deliver POSIX signals to a channel or
// cancel a context when one arrives.
//
//     // Go: ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
//     //     defer stop()
//     auto [ctx, stop] = goro::signal::notify_context(goro::background(), {SIGINT, SIGTERM});
//     co_await goro::net::serve(std::move(listener), ctx, 5s, handler);   // until Ctrl-C
//     // `stop` restores the previous handling when it is called or destroyed.
//
//     // Go: c := make(chan os.Signal, 1); signal.Notify(c, syscall.SIGHUP); ...; signal.Stop(c)
//     goro::chan<int> c{1};
//     goro::signal::notify(c, {SIGHUP});
//     std::optional<int> sig = co_await c.recv();   // SIGHUP
//     goro::signal::stop(c);
//
// The rules, as in Go:
//   - Only the signals asked for are touched. The first watch of a signal
//     installs goro's handler for it and remembers the disposition it
//     replaced (the default, SIG_IGN, or a program's own handler); when the
//     last watch of that signal stops, that disposition is put back. A signal
//     nobody watches keeps whatever the program set up.
//   - notify() never blocks: a signal that finds the channel full (or an
//     unbuffered channel with no receiver waiting) is dropped. Give the
//     channel a buffer. Several arrivals of one signal before the delivery
//     thread has run count as one (the kernel merges them too).
//   - notify() on a channel already notified adds signals to its set;
//     stop(c) undoes every notify() of c, and once it returns nothing more
//     is sent to c.
//   - notify_context(parent, sigs) returns a child of parent that is
//     cancelled (err() == context_errc::canceled) by the first of `sigs` to
//     arrive; cause(ctx) then names the signal ("interrupt signal
//     received"). The watch stays in place after that, so a second Ctrl-C
//     is caught too, until stop() (called, or run by its destructor: Go's
//     `defer stop()`) cancels the context and restores the previous
//     handling. Call stop() as soon as the context is done to let a second
//     Ctrl-C kill a program that is slow to shut down.
//   - While any watch is in place, a program whose tasks are all blocked is
//     not reported as deadlocked: a signal may still come and wake it (Go
//     behaves the same). Once the last watch stops, the report is back
//     (Go's never comes back once os/signal has been used).
//   - SIGQUIT: goro::run prints the goroutine dump on SIGQUIT when SIGQUIT
//     had its default action at start. A watch of SIGQUIT wins while it is
//     in place; when it stops, the dump handler is back.
//
// Signals that cannot be watched throw goro::signal::invalid_signal:
// SIGKILL and SIGSTOP (the kernel never lets them be caught), SIGSEGV,
// SIGBUS, SIGFPE and SIGILL (a fault's handler must not return), numbers
// outside 1..SIGRTMAX, and the two real-time signals glibc keeps for itself
// (32 and 33). Go's "Notify with no signals means all of them" is not
// offered: name the signals.
//
// Every function here may be called from any thread, inside or outside
// goro::run (a watch is the process's, as in Go, not the runtime's).
//
// ---- Design ----
// The handler (async-signal-safe) sets the signal's bit in one atomic mask
// and writes to an eventfd. A delivery thread ("goro-signal"), started by the
// first watch and joined by the stop() that ends the last one, waits on that
// eventfd, takes the mask and, for each watch of each signal taken, calls
// chan::try_send or the context's cancel function: the calls any foreign
// thread may make
// (README, "Calling goro from other threads"). The thread has every signal
// blocked and counts as no goroutine and no runtime thread; run() does not
// wait for it, and a shutdown in progress only makes its delivery wait
// (runtime/detail/foreign_entry.hpp). The details, and where stop() does
// not wait (while run() destroys the tasks left at its end), are in
// runtime/signal.cpp.
#pragma once

#include <initializer_list>
#include <memory>
#include <system_error>

#include "channel.hpp"
#include "context.hpp"
#include "error.hpp"

namespace goro::signal {

/// A signal that goro cannot watch (see the header comment), or an empty list.
struct invalid_signal : runtime_error {
    using runtime_error::runtime_error;
};

/// The category of the cause a notify_context context is cancelled with:
/// the value is the signal number, the message Go's ("interrupt signal
/// received", "terminated signal received").
[[nodiscard]] const std::error_category& category() noexcept;
[[nodiscard]] inline std::error_code make_error_code(int signo) noexcept { return {signo, category()}; }

/// signal.Notify(c, sigs...): from now on, each of `signals` that arrives is
/// sent to c as its number with try_send (dropped if c has no room). Calling
/// it again for the same channel adds to its set. Throws invalid_signal for
/// a signal that cannot be watched or an empty list, goro::runtime_error for
/// a nil channel, goro::startup_error if the delivery thread or its eventfd
/// cannot be created; nothing changes then.
void notify(const chan<int>& c, std::initializer_list<int> signals);

/// signal.Stop(c): undoes every notify() of c (a channel never notified: no
/// effect). When it returns, c receives no more signals: it waits for a
/// delivery to c in progress, if any, and when it ends the last watch, for
/// the delivery thread to exit (a brief block of the calling thread).
void stop(const chan<int>& c) noexcept;

namespace detail {
struct watch;
}

/// The stop function of notify_context. Move-only; calling it cancels the
/// context and ends the watch, and destroying it calls it. It may be called
/// any number of times, also at once from several threads or tasks: every
/// call returns with the context cancelled; the first one ends the watch.
class stop_func {
public:
    stop_func() noexcept = default;
    stop_func(std::shared_ptr<detail::watch> w, cancel_func cancel) noexcept
        : m_watch(std::move(w)), m_cancel(std::move(cancel)) {}
    stop_func(stop_func&& other) noexcept = default;
    stop_func& operator=(stop_func&& other) noexcept {
        if (this != &other) {
            (*this)();
            m_watch = std::move(other.m_watch);
            m_cancel = std::move(other.m_cancel);
        }
        return *this;
    }
    stop_func(const stop_func&) = delete;
    stop_func& operator=(const stop_func&) = delete;
    ~stop_func() { (*this)(); }

    /// Cancels the context and restores the previous handling of the signals
    /// (unless other watches still want them). Later calls change nothing.
    void operator()() const noexcept;

private:
    std::shared_ptr<detail::watch> m_watch;  // null only when moved from or default-made
    cancel_func m_cancel;
};

struct context_and_stop {
    context ctx;
    stop_func stop;
};

/// signal.NotifyContext(parent, sigs...): a child of `parent` cancelled when
/// one of `signals` arrives (or parent is done, or stop is called). Throws
/// as notify() does.
[[nodiscard]] context_and_stop notify_context(const context& parent, std::initializer_list<int> signals);

}  // namespace goro::signal
