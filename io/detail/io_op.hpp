// io_op — one io_uring operation awaited by a goroutine, and the per-file
// state (fd_state) that sockets and files share.
//
// ## The operation record
//
// An io_request lives in the awaiting coroutine's frame (inside the awaiter):
// no allocation per operation. await_suspend (io_start) parks the goroutine
// following the parking protocol (runtime/detail/goroutine.hpp), takes SQEs
// from the ring of the processor the task runs on *now* (a task stolen to
// another processor submits its next operation there), prepares them through
// the request's `prep` function and returns. The scheduler submits the batch.
// The CQE is reaped by that same processor, which runs io_complete(): it
// stores the result and makes the goroutine runnable with ready_local.
//
// ## Fast path
//
// Socket reads and writes first try the operation as a non-blocking system
// call (`attempt`): a send that fits the socket buffer or a read of data that
// already arrived then completes without suspending the task or touching the
// ring, as in Go's netpoller. Only -EAGAIN parks the task on the ring. So that
// a task whose reads always succeed cannot keep its processor forever, every
// 64th fast-path success on a thread is sent through the ring instead (which
// suspends the task and lets the others run). A read whose last attempt on
// the socket found nothing skips the attempt until a ring read fills its
// buffer (request/response traffic: the next message is rarely there yet).
//
// ## Deadlines
//
// A request on a file with a deadline for its direction (read or write), or
// with its own timeout (connect), is linked to an IORING_OP_LINK_TIMEOUT with
// an absolute CLOCK_MONOTONIC time (the clock of std::chrono::steady_clock):
// when it expires the kernel cancels the request, which then completes with
// -ECANCELED and is reported as errc::timeout. A deadline already past fails
// the request at once, without submitting anything (Go: "a deadline in the
// past fails at once even when data is ready").
//
// Changing a deadline while requests are pending (Go: "applies to all future
// and pending I/O") marks each pending request `redo` and cancels it. Its
// completion (-ECANCELED) then re-evaluates: past the new deadline → timeout;
// otherwise it is prepared again with the new deadline, on the same ring,
// without waking the task.
//
// ## Close
//
// fd_state::close marks the file closed and cancels every pending request;
// they complete with errc::closed. The descriptor itself is closed only when
// no request on it is in flight (fd_state::inflight == 0), by close() or by
// the last completion: a request in flight — even one still sitting in a
// submission queue — can never run against a new file that reused the number.
//
// ## Cross-thread cancellation
//
// A request may be pending on processor A's ring while close() or
// set_deadline() runs on processor B (or on a thread outside the runtime).
// SINGLE_ISSUER forbids B to submit to A's ring, so B posts the request's
// remote_cancel node to A's mailbox (poller::post_cancel) and wakes A; A turns
// it into an IORING_OP_ASYNC_CANCEL before its next submission. A processor
// with a request pending has in_flight() > 0, so it polls its ring every
// scheduling round, and a parked one is woken by the eventfd. The completion
// withdraws the node from the mailbox (on A, the only thread that drains it)
// before the frame holding it can be reused.
//
// ## Cancelling reliably
//
// An ASYNC_CANCEL can miss its target: the kernel answers -ENOENT not only
// for a request that completed but also for one caught between two states
// (an async poll that fired at once, whose retry is about to be handed to an
// io-wq worker: a Unix connect to a full backlog does that). The request then
// blocks in the worker, and a one-shot cancel would leave it blocked forever.
// So each ASYNC_CANCEL's completion comes back to its request (the
// cancel_node is its io_operation): -ENOENT while the request is still in
// flight and its cancellation still wanted (closed, context done, deadline
// moved) asks again with the next batch, by which time the request has
// settled somewhere the kernel can find it. And because those completions
// point into the request, the request's own completion does not release the
// task while any is outstanding: the last one does (awaiting_cancels). This
// also means a late cancellation can never hit the next request that reuses
// the same frame.
//
// ## Contexts
//
// An operation given a goro::context (ctx_io<Op>, io/detail/ctx_io.hpp) is
// cancelled through the same path as close() and deadline changes: the
// context's cancel callback (runtime/context.hpp, ctx_callback) calls
// cancel_for_context(), which records the context's outcome in the request
// (ctx_res) and, if the request is on a ring, cancels it there — directly or
// through that ring's mailbox. The -ECANCELED completion is then reported as
// the context's error (context_errc::canceled or deadline_exceeded). A request
// whose context is done before it reaches a ring fails at once, without any
// system call (io_start checks ctx_res under the lock). The callback is
// registered before the request is published and unregistered on the
// awaiting thread after it completes, never under fd_state::lock.
//
// ## Locking
//
// fd_state::lock guards the pending list, inflight, closed and the deadlines.
// Lock order: a context's lock (its cancel callbacks run under it), then
// fd_state::lock, then a poller's mailbox lock. Nothing takes a context's lock
// while holding fd_state::lock.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <climits>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <system_error>

#include "../../runtime/detail/goroutine.hpp"
#include "../io_error.hpp"
#include "../../runtime/result.hpp"
#include "poller.hpp"

struct io_uring_sqe;


namespace goro::detail {

struct io_request;

enum class io_dir : std::uint8_t { none, read, write };

/// A request's cancellation record: its mailbox node, and the io_operation of
/// the ASYNC_CANCELs made for it (see "Cancelling reliably").
struct request_cancel : remote_cancel {
    io_request* owner = nullptr;  // set by io_start
};

/// State shared by every handle to one socket or file. Heap-allocated once
/// per open file (by the handle that owns it).
struct fd_state {
    explicit fd_state(int fd_) noexcept : fd(fd_) {}
    ~fd_state();
    fd_state(const fd_state&) = delete;
    fd_state& operator=(const fd_state&) = delete;

    std::mutex lock;
    // The descriptor; -1 once really closed. Written under lock (by close or
    // the last completion after close); read without the lock only by the
    // owner of a request in flight (which keeps it open) and by option calls
    // (setsockopt, getsockname) whose failure after a racing close is EBADF.
    int fd;
    bool closed = false;                 // guarded by lock
    int inflight = 0;                    // requests prepared and not completed; guarded by lock
    io_request* pending = nullptr;       // those requests (doubly linked); guarded by lock
    std::int64_t read_deadline = 0;      // monotonic ns, 0 = none; guarded by lock
    std::int64_t write_deadline = 0;     // monotonic ns, 0 = none; guarded by lock
    // The last read attempt found nothing (EAGAIN) and no ring read since
    // filled its whole buffer: the next read goes straight to the ring
    // instead of paying for another likely-EAGAIN system call. Guarded by lock.
    bool read_would_block = false;

    /// Marks the file closed, cancels every pending request (they complete
    /// with errc::closed) and closes the descriptor now or when the last one
    /// completes. errc::closed when already closed.
    result<void> close() noexcept;

    /// Sets the deadline(s) (monotonic ns, 0 = none) and re-arms pending requests.
    void set_deadline(bool read, bool write, std::int64_t when_ns) noexcept;
};

/// Lives in the awaiter. The prep function fills the SQE from the parameters.
struct io_request : io_operation {
    void (*prep)(io_request* self, io_uring_sqe* sqe) noexcept = nullptr;
    // Optional fast path: the same operation as a non-blocking system call,
    // tried before anything is submitted (Go's netpoller does the same: the
    // read first, the poller only on EAGAIN). Returns the result, or -EAGAIN
    // to fall back to the ring. Called with file->lock held.
    int (*attempt)(io_request* self) noexcept = nullptr;
    fd_state* file = nullptr;    // nullptr for requests on no file (openat)
    int fd = -1;                 // for requests with file == nullptr
    io_dir dir = io_dir::none;
    bool redo = false;           // a deadline changed: re-prepare on -ECANCELED (file->lock)
    // Linked in file->pending and on a ring, not yet completed: only then may
    // a canceller touch ring and cancel_node. Set by io_start, cleared by the
    // completion; guarded by file->lock.
    bool submitted = false;
    // 0, or the k_res_ctx_* outcome recorded by the request's context when it
    // was cancelled (cancel_for_context). Guarded by file->lock.
    int ctx_res = 0;
    std::int64_t own_deadline = 0;   // per-operation timeout, monotonic ns (0 = none)
    std::int64_t armed_deadline = 0; // the deadline the link timeout carries (0 = none)

    // Parameters (meaning depends on prep).
    void* buf = nullptr;
    std::size_t len = 0;
    std::uint64_t offset = 0;
    int flags = 0;
    unsigned mode = 0;
    const void* addr = nullptr;  // connect: sockaddr; openat: path
    socklen_t addr_len = 0;      // accept writes the peer's length here
    msghdr msg{};                // sendmsg / recvmsg
    iovec iov{};

    // Runtime state.
    goroutine* g = nullptr;
    poller* ring = nullptr;      // the ring the request was submitted on
    io_request* prev = nullptr;  // file->pending links; guarded by file->lock
    io_request* next = nullptr;
    request_cancel cancel_node{};
    // The request completed (res is final) while ASYNC_CANCELs aimed at it
    // were in flight; the last of them readies the task. Owner thread of
    // `ring` only (both completions run there).
    bool awaiting_cancels = false;
    std::int64_t timeout_spec[2] = {0, 0};  // __kernel_timespec for the link timeout
    int res = 0;

    io_request() noexcept = default;
    io_request(const io_request&) = delete;
    io_request& operator=(const io_request&) = delete;
};

// Result codes beyond errno (res is negative errno otherwise).
inline constexpr int k_res_closed = INT_MIN + 1;
inline constexpr int k_res_timeout = INT_MIN + 2;
inline constexpr int k_res_ctx_canceled = INT_MIN + 3;  // the context was cancelled
inline constexpr int k_res_ctx_deadline = INT_MIN + 4;  // the context's deadline passed

/// Parks the calling goroutine and submits `req` (see the file comment).
/// Returns false when the request finished without submission (closed file,
/// past deadline): then req.res holds the outcome and the caller must not
/// suspend. Throws no_runtime outside a runtime.
bool io_start(io_request& req, std::coroutine_handle<> h, const char* reason);

/// A context cancelled `req` (which must have a file): records `code`
/// (k_res_ctx_*) and cancels the request if it is on a ring; a request not yet
/// started then fails at once with that code, a completed one is unaffected.
/// Any thread; called with the context's lock held, takes req.file->lock.
void cancel_for_context(io_request& req, int code) noexcept;

/// A file state that is closed forever: what empty handles operate on.
[[nodiscard]] fd_state* closed_fd_state() noexcept;

/// The one place where a result becomes an error code.
[[nodiscard]] std::error_code io_error(int res) noexcept;

/// An awaitable request returning res as result<size_t>.
struct io_awaiter : io_request {
    const char* reason = "IO wait";
    bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> h) { return io_start(*this, h, reason); }
    result<std::size_t> await_resume() const noexcept {
        if (res < 0) return io_error(res);
        return static_cast<std::size_t>(res);
    }
};

// Fast paths (io_op.cpp).
int attempt_recv(io_request*) noexcept;
int attempt_send(io_request*) noexcept;
int attempt_recvmsg(io_request*) noexcept;
int attempt_sendmsg(io_request*) noexcept;

// Prep functions (io_op.cpp), one per kind of request.
void prep_recv(io_request*, io_uring_sqe*) noexcept;
void prep_send(io_request*, io_uring_sqe*) noexcept;
void prep_read(io_request*, io_uring_sqe*) noexcept;
void prep_write(io_request*, io_uring_sqe*) noexcept;
void prep_accept(io_request*, io_uring_sqe*) noexcept;
void prep_connect(io_request*, io_uring_sqe*) noexcept;
void prep_recvmsg(io_request*, io_uring_sqe*) noexcept;
void prep_sendmsg(io_request*, io_uring_sqe*) noexcept;
void prep_openat(io_request*, io_uring_sqe*) noexcept;
void prep_openat_in_worker(io_request*, io_uring_sqe*) noexcept;
void prep_fsync(io_request*, io_uring_sqe*) noexcept;

}  // namespace goro::detail
