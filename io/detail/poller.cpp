#include "poller.hpp"

#include <liburing.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <new>

#include "../../runtime/detail/fatal.hpp"
#include "../../runtime/detail/sanitizers.hpp"
#include "../../runtime/error.hpp"

#if GORO_TSAN
#include <sanitizer/tsan_interface.h>
#endif

namespace goro::detail {
namespace {

// ThreadSanitizer and ring memory: liburing maps and unmaps a ring with raw
// system calls, which TSan does not see, so a ring set up at the address of
// one destroyed earlier (hand-offs make and destroy rings) would look like
// memory shared without synchronisation. A destroy releases this token and
// a setup acquires it: the kernel orders an unmap before the reuse of its
// addresses, and this tells TSan so.
[[maybe_unused]] char g_ring_memory_token;
void ring_memory_acquire() noexcept {
#if GORO_TSAN
    __tsan_acquire(&g_ring_memory_token);
#endif
}
void ring_memory_release() noexcept {
#if GORO_TSAN
    __tsan_release(&g_ring_memory_token);
#endif
}

// What the user reads when io_uring was asked for (GORO_NETPOLL=io_uring,
// options::netpoll) and cannot be had: what failed, why it probably failed,
// and what to change. (Left to choose, goro uses epoll instead.)
std::string io_uring_unavailable_message(int err) {
    std::string msg = "goro: cannot start: io_uring is unavailable (io_uring_setup failed: ";
    msg += std::strerror(err);
    msg += "), and the io_uring netpoller was asked for (GORO_NETPOLL or options::netpoll; "
           "leave both unset to use epoll here). ";
    int disabled = 0;
    if (std::ifstream f{"/proc/sys/kernel/io_uring_disabled"}; f >> disabled && disabled != 0) {
        msg += "The kernel has io_uring disabled (sysctl kernel.io_uring_disabled=" +
               std::to_string(disabled) + "); set it to 0, or run as a member of the group in "
               "kernel.io_uring_group.";
    } else if (err == EPERM || err == EACCES) {
        msg += "A seccomp profile or security policy (e.g. a container runtime's default profile) blocks "
               "io_uring; allow the io_uring_setup, io_uring_enter and io_uring_register system calls "
               "(Docker, Podman: --security-opt seccomp=<a profile that allows them>).";
    } else if (err == ENOSYS) {
        msg += "This kernel has no io_uring; goro needs Linux 5.19 or newer.";
    } else if (err == ENOMEM) {
        msg += "The locked-memory limit may be too low (ulimit -l) or memory is exhausted.";
    } else if (err == EMFILE || err == ENFILE) {
        msg += "The process is out of file descriptors.";
    }
    return msg;
}

// EAGAIN and EBUSY from io_uring_enter: the kernel is short of room (a full
// CQ it cannot flush its overflow into, or no memory for a request) and asks
// for completions to be reaped before a retry. When no completion comes to
// reap, enter() waits up to k_room_wait_ns for one before each retry, and
// gives up after k_max_room_waits such retries in a row (at most about 10 s):
// a kernel that refuses every submission that long will not recover, and
// retrying forever would be a silent hang or spin.
constexpr long k_room_wait_ns = 10'000'000;
constexpr unsigned k_max_room_waits = 1000;  // enter()'s message says so

// The one report of an io_uring_enter that failed for good: names the call
// (`what`: which liburing submit or wait made it) and the errno, exits 2.
// No allocation: it may run when memory is what ran out.
[[noreturn]] void enter_failed(const char* what, int err, const char* detail = "") noexcept {
    const char* text = strerrordesc_np(err);
    const char* name = strerrorname_np(err);
    char message[256];
    std::snprintf(message, sizeof message, "fatal error: goro: io_uring_enter (%s): %s (%s)%s\n", what,
                  text ? text : "unknown error", name ? name : "unknown errno", detail);
    fatal_exit(message);
}

// Set once a ring's probe found that this kernel does not raise
// IORING_SQ_TASKRUN for deferred completions (probe_taskrun_flag): every
// ring made afterwards (hand-offs) enters at every round.
std::atomic<bool> g_taskrun_flag_ignored{false};

// The oldest CQE on the ring, or null; no system call (unlike
// io_uring_peek_cqe, which may enter the kernel to flush an overflow).
io_uring_cqe* first_cqe(io_uring* ring) noexcept {
    unsigned head;
    io_uring_cqe* cqe = nullptr;
    io_uring_for_each_cqe(ring, head, cqe) break;
    return cqe;
}

}  // namespace

poller::poller(unsigned entries) {
    m_owner.bind();  // constructed on the owner thread
    setup_ring(entries);
    m_wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (m_wake_fd < 0) {
        const int err = errno;
        io_uring_queue_exit(m_ring);
        delete m_ring;
        m_ring = nullptr;
        throw startup_error(std::string("goro: eventfd failed: ") + std::strerror(err));
    }
    m_wake_op.complete = &poller::on_wake_read;
    m_wake_op.owner = this;
    arm_wake_read();
    if (m_taskrun_flag) probe_taskrun_flag();
    publish_hint_ring(m_ring);
}

// Sets up m_ring (and m_setup and the flags) on the calling thread.
void poller::setup_ring(unsigned entries) {
    m_ring = new io_uring{};
    // Try the newest flags first and fall back: DEFER_TASKRUN (6.1) needs
    // SINGLE_ISSUER (6.0); COOP_TASKRUN (5.19) is the fallback that still avoids
    // interrupting the owner thread for completions.
    struct attempt {
        unsigned flags;
        const char* name;
    };
    // TASKRUN_FLAG (5.19) first, then the same without it.
    const attempt attempts[] = {
        {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_TASKRUN_FLAG,
         "single_issuer|defer_taskrun|taskrun_flag"},
        {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL,
         "single_issuer|defer_taskrun"},
        {IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL, "coop_taskrun"},
        {0, "plain"},
    };
    int ret = -EINVAL;
    for (const attempt& a : attempts) {
        io_uring_params params{};
        params.flags = a.flags;
        ret = io_uring_queue_init_params(entries, m_ring, &params);
        if (ret == 0) {
            ring_memory_acquire();
            m_setup = a.name;
            m_defer_taskrun = (a.flags & IORING_SETUP_DEFER_TASKRUN) != 0;
            m_single_issuer = (a.flags & IORING_SETUP_SINGLE_ISSUER) != 0;
            m_taskrun_flag = (a.flags & IORING_SETUP_TASKRUN_FLAG) != 0 && !g_taskrun_flag_ignored.load(std::memory_order_relaxed);
            break;
        }
        if (ret != -EINVAL) break;  // not a flag problem: fallbacks will not help
    }
    if (ret < 0) {
        delete m_ring;
        m_ring = nullptr;
        throw startup_error(io_uring_unavailable_message(-ret));
    }
}

poller::~poller() {
    if (m_ring) {
        ring_memory_release();
        io_uring_queue_exit(m_ring);
        delete m_ring;
    }
    if (m_wake_fd >= 0) ::close(m_wake_fd);
}

// Checks, once per ring made at start-up, that the kernel sets
// IORING_SQ_TASKRUN when a deferred completion waits: the wake-up read is
// submitted (the eventfd is empty, so it waits), the eventfd written, and
// the flag must then be up (the writer's wake-up queues the task work
// before write(2) returns). If it is not, this kernel does not honour the
// flag with DEFER_TASKRUN, and every later ring enters at every round, as
// without the flag: skipping those enters would leave completions unseen
// until the processor parks. The wake-up this leaves is a harmless early
// one.
void poller::probe_taskrun_flag() noexcept {
    submit();
    const std::uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = ::write(m_wake_fd, &one, sizeof one);
    if (!(IO_URING_READ_ONCE(*m_ring->sq.kflags) & IORING_SQ_TASKRUN)) {
        m_taskrun_flag = false;
        g_taskrun_flag_ignored.store(true, std::memory_order_relaxed);
    }
}

bool poller::events_waiting() noexcept {
    std::lock_guard guard(m_hint_lock);
    io_uring* ring = m_hint_ring;
    if (!ring) return false;
    // The kernel's words, read as liburing does (acquire for the CQ tail).
    // Stale either way: a hint.
    // Both CQ indexes through atomics: the owner may be reaping meanwhile.
    if (io_uring_smp_load_acquire(ring->cq.ktail) != io_uring_smp_load_acquire(ring->cq.khead)) return true;
    const unsigned flags = IO_URING_READ_ONCE(*ring->sq.kflags);
    if (flags & IORING_SQ_CQ_OVERFLOW) return true;
    // Without the flag the deferred completions cannot be seen from here.
    return m_hint_taskrun_flag && (flags & IORING_SQ_TASKRUN);
}

void poller::arm_wake_read() noexcept {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_read(sqe, m_wake_fd, &m_wake_buffer, sizeof m_wake_buffer, 0);
    io_uring_sqe_set_data(sqe, static_cast<io_operation*>(&m_wake_op));
}

void poller::on_wake_read(io_operation* self, int, unsigned) noexcept {
    // Whatever the result (a count, or -EAGAIN on a spurious readiness), the
    // read is re-armed so that the next wake() is seen.
    static_cast<wake_op*>(self)->owner->arm_wake_read();
}

// Makes one io_uring_enter through liburing (`call` returns liburing's
// result: >= 0, or -errno) and retries it until the kernel accepts it; `what`
// names the call in the fatal error. Returns the call's result: >= 0, -ETIME
// (a timed wait's normal end) or, for a wait, -EINTR/-EAGAIN/-EBUSY (below).
//
//   EINTR: a signal. A submission is retried at once (each retry needs a new
//     signal: no spin); a wait returns, and its caller, the scheduler loop,
//     parks again with a timeout computed afresh.
//   EAGAIN, EBUSY: the kernel wants room. The CQEs on the ring are moved to
//     the backlog (stash_completions): that frees the CQ, and the kernel can
//     flush its overflow and finish the requests it held. No handler runs
//     here: get_sqe() and reserve() are called from completion handlers and
//     with an fd's lock held, and a handler run here could take that lock
//     again; reap() runs the backlog. A submission then retries; a wait
//     returns, since it has completions to run. If there was nothing to move,
//     wait_for_room() waits (boundedly) for a completion before the retry.
//   Anything else: fatal (enter_failed). EPERM (a seccomp filter), EBADF,
//     EEXIST (not the single issuer), EBADR (the kernel dropped a CQE): a
//     ring that cannot enter the kernel, or lost a completion, cannot go on.
template <typename Call>
int poller::enter(enter_kind kind, const char* what, Call call) noexcept {
    GORO_ASSERT(m_owner.is_current());  // owner thread only (single issuer)
    unsigned room_waits = 0;
    for (;;) {
        const int ret = call();
        if (ret >= 0 || ret == -ETIME) return ret;
        const int err = -ret;
        if (err == EINTR) {
            if (kind == enter_kind::wait) return ret;
            continue;
        }
        if (err != EAGAIN && err != EBUSY) enter_failed(what, err);
        if (stash_completions()) {
            room_waits = 0;
            if (kind == enter_kind::wait) return ret;
            continue;
        }
        if (++room_waits > k_max_room_waits) enter_failed(what, err, "; still no room after 1000 retries");
        wait_for_room();
    }
}

int poller::submit() noexcept {
    return enter(enter_kind::submit, "submit", [this] { return io_uring_submit(m_ring); });
}

bool poller::stash_completions() noexcept {
    bool any = false;
    while (io_uring_cqe* cqe = first_cqe(m_ring)) {
        try {
            m_backlog.push_back(completion{cqe->user_data, cqe->res, cqe->flags});
        } catch (const std::bad_alloc&) {
            fatal_exit("fatal error: goro: out of memory holding io_uring completions\n");
        }
        io_uring_cqe_seen(m_ring, cqe);
        any = true;
    }
    return any;
}

void poller::wait_for_room() noexcept {
    // A wait for one completion, submitting nothing (the kernel uses the
    // timeout argument: IORING_FEAT_EXT_ARG, Linux 5.11): what the kernel
    // holds in its overflow list or in flight lands on the CQ meanwhile.
    __kernel_timespec ts{};
    ts.tv_nsec = k_room_wait_ns;
    io_uring_cqe* cqe = nullptr;
    const int ret = io_uring_wait_cqe_timeout(m_ring, &cqe, &ts);
    // A timeout, a signal or still no room: the caller retries (and counts).
    if (ret < 0 && ret != -ETIME && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY)
        enter_failed("wait for room", -ret);
}

io_uring_sqe* poller::get_sqe() noexcept {
    GORO_ASSERT(m_owner.is_current());  // owner thread only (single issuer)
    io_uring_sqe* sqe = io_uring_get_sqe(m_ring);
    while (!sqe) {
        // Submission queue full: hand the batch to the kernel now. With
        // SUBMIT_ALL the kernel consumes every SQE even if one fails early.
        submit();
        sqe = io_uring_get_sqe(m_ring);
    }
    return sqe;
}

void poller::reserve(unsigned n) noexcept {
    GORO_ASSERT(m_owner.is_current());  // owner thread only (single issuer)
    while (io_uring_sq_space_left(m_ring) < n) submit();
}

bool poller::has_pending_submissions() const noexcept {
    // The mailbox counts as pending work: its cancellations must be submitted;
    // so do stashed completions (enter()): they must be handled.
    return io_uring_sq_ready(m_ring) != 0 || m_mailbox_nonempty.load(std::memory_order_relaxed) ||
           m_backlog_head != m_backlog.size();
}

void poller::cancel_local(remote_cancel* node) noexcept {
    GORO_ASSERT(m_owner.is_current());  // owner thread only (single issuer)
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_cancel64(sqe, node->target, 0);
    io_uring_sqe_set_data(sqe, static_cast<io_operation*>(node));
    ++node->in_flight;
    note_submitted();
}

void poller::post_cancel(remote_cancel* node) noexcept {
    {
        std::lock_guard guard(m_mailbox_lock);
        if (!m_mailbox.push(node)) return;  // already asked; the owner has not drained it yet
        // release: pairs with the acquire load in drain_mailbox.
        m_mailbox_nonempty.store(true, std::memory_order_release);
    }
    wake();
}

void poller::withdraw_cancel(remote_cancel* node) noexcept {
    std::lock_guard guard(m_mailbox_lock);
    m_mailbox.remove(node);
    if (!m_mailbox.head) m_mailbox_nonempty.store(false, std::memory_order_relaxed);
}

void poller::drain_mailbox() noexcept {
    // acquire: pairs with post_cancel's release store (the lock below would
    // order it anyway; the flag only spares the lock when nothing was posted).
    if (!m_mailbox_nonempty.load(std::memory_order_acquire)) return;
    std::lock_guard guard(m_mailbox_lock);
    while (remote_cancel* node = m_mailbox.pop()) {
        // The target is still in flight on this ring: it withdraws the node
        // (under this lock, on this thread) before its completion returns, and
        // the node is only ever posted while its target is in flight.
        cancel_local(node);
    }
    m_mailbox_nonempty.store(false, std::memory_order_relaxed);
}

void poller::wake() noexcept {
    const std::uint64_t one = 1;
    // The write can only fail with EAGAIN when the counter is saturated, in which
    // case a wake-up is already pending: nothing is lost.
    [[maybe_unused]] ssize_t n = ::write(m_wake_fd, &one, sizeof one);
}

unsigned poller::reap() noexcept {
    unsigned completed = 0;
    // One completion at a time, the backlog (older) first, each taken off the
    // ring or the backlog before its handler runs: a handler may queue SQEs
    // (the wake read re-arms itself), and a full SQ may make get_sqe() stash
    // the rest of the CQ (enter()); nothing is ever handled twice. Handlers
    // never wait, so this ends once both are empty.
    for (;;) {
        completion c;
        if (m_backlog_head < m_backlog.size()) {
            c = m_backlog[m_backlog_head++];
            if (m_backlog_head == m_backlog.size()) {
                m_backlog.clear();
                m_backlog_head = 0;
            }
        } else if (io_uring_cqe* cqe = first_cqe(m_ring)) {
            c = completion{cqe->user_data, cqe->res, cqe->flags};
            io_uring_cqe_seen(m_ring, cqe);
        } else {
            break;
        }
        if (c.user_data == k_ignored_user_data || c.user_data == 0) continue;
        // An orphan's moved operation (uring_handoff.cpp): never dereferenced.
        if (m_is_orphan && drop_if_moved(c.user_data, c.res)) {
            add_in_flight(-1);
            continue;
        }
        auto* op = reinterpret_cast<io_operation*>(static_cast<std::uintptr_t>(c.user_data));
        const bool counted = op != &m_wake_op && !(c.flags & IORING_CQE_F_MORE);
        op->complete(op, c.res, c.flags);
        // Only after complete() has made the waiter runnable (pushed it on
        // this processor's deque): the deadlock check reads in_flight() and
        // then the deques of a processor that may still be listed idle while
        // it reaps, and must never see "no I/O, no work" in between. The
        // release store pairs with in_flight()'s acquire.
        if (counted) {
            add_in_flight(-1);
            ++completed;
        }
    }
    return completed;
}

unsigned poller::submit_and_reap() noexcept {
    GORO_ASSERT(m_owner.is_current());  // owner thread only (single issuer)
    drain_mailbox();
    if (m_in_flight.load(std::memory_order_relaxed) > 0 || io_uring_sq_ready(m_ring) != 0 || io_uring_cq_has_overflow(m_ring)) {
        // One system call: submit the batch and (with DEFER_TASKRUN) run the
        // deferred completion work so that ready CQEs become visible.
        // With the taskrun flag, only when something waits (deferred task
        // work, an overflow) or is to be submitted: a server always has
        // reads and accepts in flight, and most rounds find nothing new.
        if (m_defer_taskrun &&
            (!m_taskrun_flag || io_uring_sq_ready(m_ring) != 0 ||
             (IO_URING_READ_ONCE(*m_ring->sq.kflags) & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW))))
            enter(enter_kind::submit, "submit and get events",
                  [this] { return io_uring_submit_and_get_events(m_ring); });
        else if (io_uring_sq_ready(m_ring) != 0 || io_uring_cq_has_overflow(m_ring))
            submit();
    }
    return reap();
}

unsigned poller::park(std::int64_t timeout_ns) noexcept {
    GORO_ASSERT(m_owner.is_current());  // owner thread only (single issuer)
    drain_mailbox();
    // Completions already here (on the ring or stashed): run them, no wait.
    if (io_uring_cq_ready(m_ring) == 0 && m_backlog_head == m_backlog.size()) {
        if (timeout_ns < 0) {
            enter(enter_kind::wait, "submit and wait", [this] { return io_uring_submit_and_wait(m_ring, 1); });
        } else {
            __kernel_timespec ts{};
            ts.tv_sec = timeout_ns / 1'000'000'000;
            ts.tv_nsec = timeout_ns % 1'000'000'000;
            // -ETIME (the timeout) and -EINTR (a signal) just end the park.
            enter(enter_kind::wait, "submit and wait with timeout", [this, &ts] {
                io_uring_cqe* cqe = nullptr;
                return io_uring_submit_and_wait_timeout(m_ring, &cqe, 1, &ts, nullptr);
            });
        }
    }
    return reap();
}

void poller::cancel_all_and_drain() noexcept {
    GORO_ASSERT(m_owner.is_current());  // owner thread only (single issuer)
    if (m_in_flight.load(std::memory_order_relaxed) > 0) {
        io_uring_sqe* sqe = get_sqe();
        // Cancel every request on the ring; the wake read is cancelled too (it
        // is re-armed by its completion, and the ring is torn down right after).
        io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
        io_uring_sqe_set_data64(sqe, k_ignored_user_data);
    }
    while (m_in_flight.load(std::memory_order_relaxed) > 0) {
        park(-1);
        if (m_in_flight.load(std::memory_order_relaxed) > 0) {
            // Operations that did not support cancellation at the first try,
            // or were queued after it: ask again.
            io_uring_sqe* sqe = get_sqe();
            io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
            io_uring_sqe_set_data64(sqe, k_ignored_user_data);
        }
    }
}


}  // namespace goro::detail
