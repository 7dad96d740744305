// netpoll — the one interface between the scheduler, the I/O code and an I/O
// driver (Go's netpoll(delay) and netpollBreak; Tokio's driver behind park;
// Seastar's reactor_backend). Internal.
//
// Each logical processor owns one driver, made on its own thread at start-up
// by make_netpoll(). Two drivers exist (io/detail/): io_uring (the ring of
// poller.hpp, completion-based) and epoll (epoll_driver.hpp,
// readiness-based). run() picks one kind for every processor
// (choose_netpoll: options::netpoll, else GORO_NETPOLL, else io_uring where
// it can be set up and epoll elsewhere).
//
// The scheduler's half: it polls for completions between tasks, parks on the
// driver when it has no work (with the earliest timer deadline as the
// timeout), wakes it from other threads, and asks whether anything is in
// flight (deadlock detection, shutdown).
//
// The I/O code's half (io/io_op.cpp): an operation is an io_request (declared
// in io/detail/io_op.hpp; the scheduler never looks inside one). io_start
// hands it to the running processor's driver (current_netpoll()), which
// completes it at once or keeps it in flight; a driver finishes an
// operation by calling back into io/io_op.cpp (settle_request), which turns
// the raw result into the user's outcome and readies the task. Closing a
// file, moving a deadline and a context's cancellation call cancel() on the
// driver that holds the operation, from any thread.
//
// Threads: every call is owner-thread only except wake(), in_flight(),
// events_waiting(), cancel() and withdraw() (any thread, as documented
// below).
#pragma once

#include <cstdint>
#include <memory>

namespace goro::detail {

struct io_request;  // io/detail/io_op.hpp

/// What start() did with an operation.
enum class start_outcome : std::uint8_t {
    in_flight,   // the driver holds it; its completion will ready the task
    done,        // finished at once, req.res holds the result; the task goes on
    done_yield,  // finished at once, but the task should yield its processor
                 // first (a stream of instant completions must not starve others)
};

class netpoll_driver {
public:
    virtual ~netpoll_driver() = default;

    // ---- the scheduler's half ----

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

    /// Any thread (acquire). User operations held by this driver and not yet
    /// completed. A completion is counted out only after its task was made
    /// runnable.
    virtual std::int64_t in_flight() const noexcept = 0;

    /// Any thread, a hint for the monitor (runtime/sysmon.cpp, "Early
    /// hand-off"): true when events have arrived that only the owner can
    /// collect (io_uring: completions posted or pending as deferred task
    /// work; epoll: a non-empty ready list). It may be stale either way and
    /// may see events no task waits for (epoll's edges); never used for
    /// correctness. Called only while the owner is inside a run.
    virtual bool events_waiting() noexcept = 0;

    /// Owner, at shutdown. Cancels every operation in flight and waits until
    /// all have completed (their records live in task frames).
    virtual void cancel_all_and_drain() noexcept = 0;

    /// Whether another thread may take this driver over (a hand-off: the
    /// monitor gives the processor to a spare thread, which calls adopt()).
    /// True for both drivers today; the monitor skips a processor whose
    /// driver says no.
    virtual bool movable() const noexcept = 0;

    /// The calling thread takes over the owner's role (a hand-off; the
    /// previous owner never calls it again). Only when movable(). epoll: the
    /// role moves whole. io_uring: a SINGLE_ISSUER ring is bound to the
    /// thread that made it, so the driver moves its operations to a new
    /// ring of the caller's (io/detail/poller.hpp, "Hand-off").
    virtual void adopt() noexcept = 0;

    /// After adopt(): what the previous owner must still drive itself, or
    /// null. io_uring: the old ring, with the operations that could not
    /// move (poller.hpp, "Hand-off"). The thread that lost the processor
    /// calls retire() on it when its task suspends, then destroys it.
    virtual std::unique_ptr<netpoll_driver> take_orphan() noexcept { return nullptr; }

    /// An orphan's owner (the thread that lost the processor), once: finish
    /// with it (cancel what moved, complete what stayed behind, wait for
    /// all of it). Nothing else is called on an orphan but cancel() and
    /// withdraw() for the requests left on it.
    virtual void retire() noexcept {}

    /// "io_uring" or "epoll" (for goro::netpoller(), schedtrace and dumps).
    virtual const char* name() const noexcept = 0;

    // ---- the I/O code's half (io/io_op.cpp) ----

    /// Owner (the running processor's driver). Starts `req` with `deadline`
    /// (monotonic ns, 0 = none). Called with req.file->lock held when the
    /// request has a file, after io_start linked it as pending. Sets
    /// req.driver to the driver that will complete it (not necessarily this
    /// one: an epoll file stays with the driver it was registered with).
    virtual start_outcome start(io_request& req, std::int64_t deadline) noexcept = 0;

    /// Owner of req.driver, from settle_request with req.file->lock held: the
    /// request was interrupted because its deadline moved; run it again under
    /// `deadline`, without waking the task.
    virtual void restart(io_request& req, std::int64_t deadline) noexcept = 0;

    /// Any thread, on req.driver, with req.file->lock held while the request
    /// is in flight: asks the driver to cancel it. Its completion then
    /// re-evaluates why (closed file, context, deadline): see io_op.hpp.
    virtual void cancel(io_request& req) noexcept = 0;

    /// req.driver's owner, from settle_request with req.file->lock held: the
    /// request completed; forget any cancellation still queued for it, so
    /// that the frame holding it can be reused.
    virtual void withdraw(io_request& req) noexcept = 0;

    /// True when file operations and opens run as blocking system calls (on
    /// the blocking pool) rather than through the kernel's asynchronous
    /// interface: an open then behaves exactly as open(2) (a FIFO waits for
    /// its other end), and cannot be cancelled once it runs.
    virtual bool blocking_file_ops() const noexcept = 0;
};

/// Decides the driver kind for a runtime: `requested` ("io_uring", "epoll",
/// or null/"" for automatic), else the GORO_NETPOLL environment variable,
/// else io_uring if a ring can be set up and used here, else epoll. Returns
/// a static string. Throws goro::bad_configuration for an unknown name and
/// goro::startup_error (with the reason) when io_uring is forced and
/// unavailable. (io/detail/netpoll_choice.cpp)
const char* choose_netpoll(const char* requested);

/// Makes a driver of `kind` (a choose_netpoll result) for the calling
/// thread's processor. Throws goro::startup_error saying why when the
/// kernel refuses it. (io/detail/netpoll_choice.cpp)
std::unique_ptr<netpoll_driver> make_netpoll(const char* kind);

/// The driver of the processor running on this thread, or nullptr
/// (scheduler.cpp; never inlined: a task may resume on another thread). For
/// its identity and properties only: the processor may be handed off to
/// another thread at any moment (runtime/handoff.cpp), so operations on it
/// go through a netpoll_scope.
netpoll_driver* current_netpoll() noexcept;

/// Holds the calling thread's processor, so that the monitor cannot hand it
/// off (detail/machine.hpp's processor_scope) while the I/O code drives its
/// netpoll. driver(): the processor's driver, or nullptr when the thread
/// holds no processor; lost(): the thread had one and it was handed off
/// (its task runs on without one; an operation must start elsewhere).
/// (scheduler.cpp.) Never held across a suspension.
class netpoll_scope {
public:
    netpoll_scope() noexcept;
    ~netpoll_scope();
    netpoll_scope(const netpoll_scope&) = delete;
    netpoll_scope& operator=(const netpoll_scope&) = delete;

    netpoll_driver* driver() const noexcept { return m_driver; }
    bool lost() const noexcept { return m_lost; }

private:
    netpoll_driver* m_driver = nullptr;
    void* m_entered = nullptr;  // the machine whose in_sched this scope set
    bool m_lost = false;
};

}  // namespace goro::detail
