// signal_watch — what the rest of the runtime needs from goro::signal
// (runtime/signal.hpp, runtime/signal.cpp). Internal.
//
//   - The deadlock detector asks whether a watch is in place: a signal may
//     then still wake a task, so "all goroutines are asleep" is not final.
//   - The SIGQUIT goroutine dump (goroutine_dump.cpp) installs its handler
//     only where a signal has its default action and no watch has it, and
//     takes it out again at the end of the run. Both go through goro::signal's
//     lock, so that a watch of the same signal made or stopped meanwhile
//     restores the right disposition: the one each replaced.
#pragma once

#include <signal.h>

namespace goro::detail {

/// True while at least one goro::signal watch (notify or notify_context) is
/// in place. A relaxed snapshot: it changes only through notify and stop
/// calls, which a running task (or a foreign thread) makes; the deadlock
/// detector re-checks each time the last processor goes idle.
[[nodiscard]] bool signal_watch_active() noexcept;

/// Installs `handler` for `signo` if the signal has its default action
/// (SIG_DFL, no SA_SIGINFO handler) and no goro::signal watch has it. On
/// success stores the disposition it replaced in *previous and returns true.
bool install_default_signal_handler(int signo, void (*handler)(int), struct sigaction* previous) noexcept;

/// Undoes install_default_signal_handler: puts `previous` back if `handler`
/// is still installed; if a watch has taken the signal over since, the
/// watch will put `previous` back (not `handler`) when it stops. If someone
/// outside goro replaced `handler`, nothing changes.
void remove_default_signal_handler(int signo, void (*handler)(int), const struct sigaction& previous) noexcept;

}  // namespace goro::detail
