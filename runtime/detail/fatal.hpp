// fatal — how goro ends the process when Go would: a message on stderr and
// exit status 2, never an abort with a core dump. Internal; in panic.cpp.
//
// Every such exit flushes every stdio stream first: output the program
// printed before a deadlock or a panic must not vanish when stdout is a pipe
// (Go's output is unbuffered, so nothing is lost there).
#pragma once

#include <exception>
#include <source_location>
#include <string_view>

namespace goro::detail {

/// Writes `message` (which ends with a newline) to stderr, flushes every
/// stdio stream and exits with status 2.
[[noreturn]] void fatal_exit(std::string_view message) noexcept;

/// Called by goro::run on every entry: installs, once per process, the
/// std::terminate handler that reports an exception nobody caught after it
/// left goro::run (the main task's, or a start-up error) as Go does: "panic:
/// <what()>" with "goroutine 1" and the run() call site for the main task's,
/// "goro: <what()>" for goro's start-up and configuration errors, then exit
/// status 2. Any other terminate goes to the handler installed before.
void install_uncaught_handler() noexcept;

/// The main task finished with `error`, which run() is about to rethrow from
/// `site`: if nothing catches it, the handler above names it as goroutine 1.
void note_main_exception(std::exception_ptr error, const std::source_location& site) noexcept;

}  // namespace goro::detail
