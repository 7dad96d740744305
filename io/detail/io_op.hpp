// io_op — one I/O operation awaited by a goroutine, and the per-file state
// (fd_state) that sockets and files share.
//
// The request describes the operation in terms no driver owns (an
// io_kind and its parameters); the running processor's driver
// (runtime/detail/netpoll.hpp) carries it out: the io_uring driver
// (poller.hpp, uring_ops.cpp) as an SQE, the epoll driver (epoll_driver.hpp)
// as a non-blocking system call retried on readiness, or as a blocking call
// on the blocking pool for regular files and opens. What follows describes
// the io_uring driver where it says "ring"; the epoll driver keeps the same
// guarantees (epoll_driver.hpp says how).
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
// A ring read that fills its buffer exactly (read_exact of a fixed-size
// message) cannot tell by its count whether it emptied the queue; on a TCP
// socket the kernel says so in the completion (IORING_CQE_F_SOCK_NONEMPTY,
// Linux 6.1 and later here): no flag, the queue is empty, and the next read
// skips its attempt too. (On tcp_echo the client's reads were one failed
// recv and one ring read each; now one ring read.) The ring read itself
// is submitted as before: the kernel tries it at once, then waits. Asking
// it to wait first (IORING_RECVSEND_POLL_FIRST) cost 10 % of tcp_echo's
// throughput at 2 processors: by the time the batch is submitted the data
// has often come.
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
#include <atomic>
#include <cstdint>
#include <mutex>
#include <system_error>

#include "../../runtime/blocking.hpp"
#include "../../runtime/detail/goroutine.hpp"
#include "../../runtime/detail/netpoll.hpp"
#include "../../runtime/detail/spin_mutex.hpp"
#include "../../runtime/result.hpp"
#include "../io_error.hpp"
#include "io_operation.hpp"


namespace goro::detail {

struct io_request;

enum class io_dir : std::uint8_t { none, read, write };

/// What a request does (each driver maps it to its own means).
enum class io_kind : std::uint8_t {
    recv,              // recv(2) into buf/len with flags
    send,              // send(2) of buf/len with flags (MSG_NOSIGNAL always)
    read,              // read/pread of a file (offset k_cursor: the cursor)
    write,             // write/pwrite of a file
    accept,            // accept4 into buf (a sockaddr_storage), len its size
    connect,           // connect to addr/addr_len
    recvmsg,           // one datagram into buf/len, sender into addr (room: mode)
    sendmsg,           // one datagram of buf/len to addr/addr_len
    openat,            // open addr (a path) with flags/mode; res is the fd
    openat_in_worker,  // the same, as open(2) blocks (a FIFO waits for its other end)
    fsync,             // fsync, or fdatasync when flags == 1
};

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

    // A futex lock that spins briefly first (spin_mutex.hpp): taken about
    // ten times per round trip on tcp_echo, where pthread_mutex_lock and
    // unlock were a tenth of the user-space instructions; held across one
    // non-blocking system call at most.
    spin_mutex lock;
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
    // instead of paying for another likely-EAGAIN system call. Guarded by
    // lock. (io_uring driver.)
    bool read_would_block = false;
    // io_uring driver: whether the file is a TCP socket, whose ring reads
    // report the bytes they left in the receive queue (see "Fast path"):
    // 1 yes, 0 no, -1 not asked yet. Guarded by lock.
    std::int8_t tcp = -1;
    // epoll driver: O_NONBLOCK was set on the descriptor; epoll refused it
    // (a regular file: its operations go to the blocking pool). Guarded by lock.
    bool nonblocking = false;
    bool not_pollable = false;
    // The driver's registration of this file (epoll), released just before
    // the descriptor is closed (see close_descriptor). Guarded by lock.
    file_registration* registration = nullptr;

    /// Marks the file closed, cancels every pending request (they complete
    /// with errc::closed) and closes the descriptor now or when the last one
    /// completes. errc::closed when already closed.
    result<void> close() noexcept;

    /// Sets the deadline(s) (monotonic ns, 0 = none) and re-arms pending requests.
    void set_deadline(bool read, bool write, std::int64_t when_ns) noexcept;
};

struct io_request;

/// A request run on the blocking pool (epoll driver: regular files, opens).
struct io_blocking_job : blocking_job {
    io_request* request = nullptr;
};

/// Lives in the awaiter. `op` and the parameters say what to do.
struct io_request : io_operation {
    io_kind op = io_kind::recv;
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
    netpoll_driver* driver = nullptr;  // the driver holding the request (set by its start())
    io_request* prev = nullptr;  // file->pending links; guarded by file->lock
    io_request* next = nullptr;
    request_cancel cancel_node{};
    // The request completed (res is final) while ASYNC_CANCELs aimed at it
    // were in flight; the last of them readies the task. Owner thread of
    // `ring` only (both completions run there).
    bool awaiting_cancels = false;
    std::int64_t timeout_spec[2] = {0, 0};  // __kernel_timespec for the link timeout (io_uring)
    // io_uring: the ring the request's SQE went to, and its links in that
    // poller's list of requests in flight (poller.hpp, "Hand-off"); owner
    // thread of `driver` only.
    void* ring = nullptr;
    io_request* ring_prev = nullptr;
    io_request* ring_next = nullptr;
    // io_uring: the request was moved to a new ring by a hand-off and waits
    // for readiness first (an accept: POLLIN, then the accept; a connect:
    // POLLOUT, then SO_ERROR): see poller.hpp, "Hand-off". Owner thread of
    // `driver` only.
    bool poll_first = false;
    // epoll driver: the next request waiting on the same file and direction
    // (guarded by the registration's lock), the request's slot in the
    // driver's deadline heap (guarded by the driver's lock), and whether a
    // connect was started (owner of the request in flight).
    io_request* wait_next = nullptr;
    // Written under the driver's lock; atomic (relaxed) because the owner
    // checks "in the heap at all?" without it: a swap by another thread's
    // heap_add moves the slot between nonzero values only, and the 0 <->
    // nonzero transitions are ordered by the locks that publish the request.
    std::atomic<std::uint32_t> heap_slot{0};
    bool connect_started = false;
    io_blocking_job job{};       // epoll driver: the blocking-pool job
    int res = 0;

    io_request() noexcept = default;
    io_request(const io_request&) = delete;
    io_request& operator=(const io_request&) = delete;
};

// Result codes beyond errno (res is negative errno otherwise).
inline constexpr int k_res_would_block = INT_MIN;  // try_nonblocking: not ready, wait (never a final result)
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

/// How a driver finishes a request, on its owner thread (or a blocking-pool
/// thread) with req.file->lock held when there is a file: turns the raw
/// result into the user's outcome (closed, timeout, the context's error),
/// unlinks the request from its file and decrements inflight. Returns:
///   ready      req.res is final; once the lock is released, the caller
///              closes `fd_to_close` (taken with take_descriptor) when it
///              is >= 0 and readies req.g
///              (or lets the blocking pool do it);
///   restarted  a deadline moved: the request was handed back to its
///              driver (restart) and is in flight again;
///   held       io_uring cancellations aimed at it are outstanding: the last
///              one readies the task.
enum class settle_outcome : std::uint8_t { ready, restarted, held };
settle_outcome settle_request(io_request& req, int res, int& fd_to_close) noexcept;

/// The same for a request on no file (an open): returns the final result.
int settle_fileless(const io_request& req, int res) noexcept;

/// Takes f.fd for closing (f.fd becomes -1) and releases the driver's
/// registration of the file first; the caller closes the result. Caller
/// holds f.lock or is f's destructor.
[[nodiscard]] int take_descriptor(fd_state& f) noexcept;

/// The deadline a request runs under now: the earlier of its file's deadline
/// for its direction and its own timeout (0 = none). Caller holds
/// req.file->lock (or the request has no file).
std::int64_t effective_deadline(const io_request& req) noexcept;

/// The operation as a non-blocking system call: the result, or
/// k_res_would_block when it must wait for readiness (a connect in progress
/// included: call again once the socket is writable). For the socket kinds
/// and for read/write of a descriptor in non-blocking mode.
/// (io/detail/nonblocking_io.cpp)
int try_nonblocking(io_request& req) noexcept;

/// Points req.msg at the request's one buffer and at req.addr (recvmsg's room
/// for the sender, sendmsg's destination), with `name_len` as its length. The
/// msghdr lives in the request, so the kernel may read it until completion.
msghdr* fill_msghdr(io_request& req, socklen_t name_len) noexcept;

/// The operation as a blocking system call (the blocking pool's half of the
/// epoll driver: read, write, fsync, opens). (io/detail/nonblocking_io.cpp)
int run_blocking(io_request& req) noexcept;

/// True for the kinds whose results say "wait" as EAGAIN and that sockets do.
[[nodiscard]] inline bool is_socket_kind(io_kind k) noexcept {
    return k == io_kind::recv || k == io_kind::send || k == io_kind::accept || k == io_kind::connect ||
           k == io_kind::recvmsg || k == io_kind::sendmsg;
}

}  // namespace goro::detail
