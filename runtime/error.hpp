// goro::runtime_error — the one base of every error goro throws.
//
// Programming mistakes (send on a closed channel, double close, a negative
// wait-group counter, calling goro outside goro::run) throw a type derived
// from goro::runtime_error whose what() uses Go's wording where Go has one.
// I/O outcomes are not exceptions: they come back as goro::result<T>.
#pragma once

#include <stdexcept>
#include <string>

namespace goro {

/// Base of every exception goro throws for a misuse of the runtime.
struct runtime_error : std::logic_error {
    using std::logic_error::logic_error;
};

/// An operation that needs a running goro runtime was called outside goro::run.
struct no_runtime : runtime_error {
    explicit no_runtime(const char* what_was_called)
        : runtime_error(std::string(what_was_called) +
                        " called outside goro::run (no goro runtime on this thread)") {}
};

/// The runtime was configured in a way that cannot work (procs > max_threads, ...).
struct bad_configuration : runtime_error {
    using runtime_error::runtime_error;
};

/// The OS refused a resource the runtime needs to start (io_uring, threads).
struct startup_error : runtime_error {
    using runtime_error::runtime_error;
};

}  // namespace goro
