// netpoll — the scheduler's whole view of the I/O driver (Go's netpoll(delay)
// and netpollBreak; Tokio's driver behind park). Internal.
//
// Each logical processor owns one driver, made on its own thread at start-up
// by make_netpoll() (io/: today the io_uring ring, io/detail/poller.hpp). The
// scheduler calls nothing else of it: it polls for completions between
// tasks, parks on it when it has no work (with the earliest timer deadline
// as the timeout), wakes it from other threads, and asks whether anything is
// in flight (deadlock detection, shutdown). How operations are started,
// cancelled and completed is the driver's business and io/'s; the I/O code
// reaches the running processor's driver through current_netpoll(), never
// through the processor's fields.
//
// Threads: every call is owner-thread only except wake() and in_flight().
#pragma once

#include <cstdint>
#include <memory>

namespace goro::detail {

class netpoll_driver {
public:
    virtual ~netpoll_driver() = default;

    /// Owner. Hands queued requests to the kernel and runs the completions
    /// that are ready, without blocking. Returns the user operations completed
    /// (their tasks were made runnable on this processor).
    virtual unsigned poll() noexcept = 0;

    /// Owner. Like poll(), but blocks until a completion, a wake() or the
    /// timeout (nanoseconds; negative: none).
    virtual unsigned park(std::int64_t timeout_ns) noexcept = 0;

    /// Any thread. Makes a park() in progress, or the next one, return.
    virtual void wake() noexcept = 0;

    /// Owner. True when poll() has something to do: operations in flight, or
    /// requests not yet handed to the kernel.
    virtual bool has_work() const noexcept = 0;

    /// Any thread (acquire). User operations started and not yet completed. A
    /// completion is counted out only after its task was made runnable.
    virtual std::int64_t in_flight() const noexcept = 0;

    /// Owner, at shutdown. Cancels every operation in flight and waits until
    /// all have completed (their records live in task frames).
    virtual void cancel_all_and_drain() noexcept = 0;

    /// "io_uring" (for goro::netpoller(), schedtrace and dumps).
    virtual const char* name() const noexcept = 0;
};

/// The kind of driver make_netpoll() makes: "io_uring" (io/detail/poller.cpp).
const char* netpoll_kind() noexcept;

/// Makes the driver of the calling thread's processor (io/detail/poller.cpp).
/// Throws goro::startup_error saying why when the kernel refuses it.
std::unique_ptr<netpoll_driver> make_netpoll();

/// The driver of the processor running on this thread, or nullptr
/// (scheduler.cpp; never inlined: a task may resume on another thread).
netpoll_driver* current_netpoll() noexcept;

}  // namespace goro::detail
