#include "poller.hpp"

#include <liburing.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <new>

#include "../../runtime/error.hpp"

namespace goro::detail {
namespace {

// What the user reads when goro::run cannot start: what failed, why it
// probably failed, and what to change. goro has no fallback: its processors
// park on their rings and its I/O goes through them.
std::string io_uring_unavailable_message(int err) {
    std::string msg = "goro: cannot start: io_uring is unavailable (io_uring_setup failed: ";
    msg += std::strerror(err);
    msg += "); goro needs io_uring for its I/O and to park its processors. ";
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

}  // namespace

poller::poller(unsigned entries) {
    m_owner.bind();  // constructed on the owner thread
    m_ring = new io_uring{};
    // Try the newest flags first and fall back: DEFER_TASKRUN (6.1) needs
    // SINGLE_ISSUER (6.0); COOP_TASKRUN (5.19) is the fallback that still avoids
    // interrupting the owner thread for completions.
    struct attempt {
        unsigned flags;
        const char* name;
    };
    const attempt attempts[] = {
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
            m_setup = a.name;
            m_defer_taskrun = (a.flags & IORING_SETUP_DEFER_TASKRUN) != 0;
            break;
        }
        if (ret != -EINVAL) break;  // not a flag problem: fallbacks will not help
    }
    if (ret < 0) {
        delete m_ring;
        m_ring = nullptr;
        throw startup_error(io_uring_unavailable_message(-ret));
    }
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
}

poller::~poller() {
    if (m_ring) {
        io_uring_queue_exit(m_ring);
        delete m_ring;
    }
    if (m_wake_fd >= 0) ::close(m_wake_fd);
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

io_uring_sqe* poller::get_sqe() noexcept {
    GORO_ASSERT(m_owner.is_current());  // owner thread only (single issuer)
    io_uring_sqe* sqe = io_uring_get_sqe(m_ring);
    while (!sqe) {
        // Submission queue full: hand the batch to the kernel now. With
        // SUBMIT_ALL the kernel consumes every SQE even if one fails early.
        io_uring_submit(m_ring);
        sqe = io_uring_get_sqe(m_ring);
    }
    return sqe;
}

void poller::reserve(unsigned n) noexcept {
    GORO_ASSERT(m_owner.is_current());  // owner thread only (single issuer)
    while (io_uring_sq_space_left(m_ring) < n) io_uring_submit(m_ring);
}

bool poller::has_pending_submissions() const noexcept {
    // The mailbox counts as pending work: its cancellations must be submitted.
    return io_uring_sq_ready(m_ring) != 0 || m_mailbox_nonempty.load(std::memory_order_relaxed);
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
        if (node->queued) return;  // already asked; the owner has not drained it yet
        node->queued = true;
        node->prev = nullptr;
        node->next = m_mailbox_head;
        if (m_mailbox_head) m_mailbox_head->prev = node;
        m_mailbox_head = node;
        // release: pairs with the acquire load in drain_mailbox.
        m_mailbox_nonempty.store(true, std::memory_order_release);
    }
    wake();
}

void poller::withdraw_cancel(remote_cancel* node) noexcept {
    std::lock_guard guard(m_mailbox_lock);
    if (!node->queued) return;
    if (node->prev)
        node->prev->next = node->next;
    else
        m_mailbox_head = node->next;
    if (node->next) node->next->prev = node->prev;
    node->prev = node->next = nullptr;
    node->queued = false;
    if (!m_mailbox_head) m_mailbox_nonempty.store(false, std::memory_order_relaxed);
}

void poller::drain_mailbox() noexcept {
    // acquire: pairs with post_cancel's release store (the lock below would
    // order it anyway; the flag only spares the lock when nothing was posted).
    if (!m_mailbox_nonempty.load(std::memory_order_acquire)) return;
    std::lock_guard guard(m_mailbox_lock);
    while (remote_cancel* node = m_mailbox_head) {
        m_mailbox_head = node->next;
        node->prev = node->next = nullptr;
        node->queued = false;
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
    // Loop: a completion handler may queue a new SQE (the wake read re-arms
    // itself) but never waits, so this terminates once the CQ is empty.
    for (;;) {
        io_uring_cqe* cqe = nullptr;
        unsigned head;
        unsigned seen = 0;
        io_uring_for_each_cqe(m_ring, head, cqe) {
            ++seen;
            const std::uint64_t data = cqe->user_data;
            const int res = cqe->res;
            const unsigned flags = cqe->flags;
            if (data == k_ignored_user_data || data == 0) continue;
            auto* op = reinterpret_cast<io_operation*>(static_cast<std::uintptr_t>(data));
            const bool counted = op != &m_wake_op && !(flags & IORING_CQE_F_MORE);
            op->complete(op, res, flags);
            // Only after complete() has made the waiter runnable (pushed it on
            // this processor's deque): the deadlock check reads in_flight()
            // and then the deques of a processor that may still be listed
            // idle while it reaps, and must never see "no I/O, no work" in
            // between. The release store pairs with in_flight()'s acquire.
            if (counted) {
                add_in_flight(-1);
                ++completed;
            }
        }
        if (seen == 0) break;
        io_uring_cq_advance(m_ring, seen);
    }
    return completed;
}

unsigned poller::submit_and_reap() noexcept {
    GORO_ASSERT(m_owner.is_current());  // owner thread only (single issuer)
    drain_mailbox();
    if (m_in_flight.load(std::memory_order_relaxed) > 0 || io_uring_sq_ready(m_ring) != 0 || io_uring_cq_has_overflow(m_ring)) {
        // One system call: submit the batch and (with DEFER_TASKRUN) run the
        // deferred completion work so that ready CQEs become visible.
        if (m_defer_taskrun)
            io_uring_submit_and_get_events(m_ring);
        else if (io_uring_sq_ready(m_ring) != 0 || io_uring_cq_has_overflow(m_ring))
            io_uring_submit(m_ring);
    }
    return reap();
}

unsigned poller::park(std::int64_t timeout_ns) noexcept {
    GORO_ASSERT(m_owner.is_current());  // owner thread only (single issuer)
    drain_mailbox();
    io_uring_cqe* cqe = nullptr;
    if (io_uring_cq_ready(m_ring) == 0) {
        if (timeout_ns < 0) {
            io_uring_submit_and_wait(m_ring, 1);
        } else {
            __kernel_timespec ts{};
            ts.tv_sec = timeout_ns / 1'000'000'000;
            ts.tv_nsec = timeout_ns % 1'000'000'000;
            // Returns -ETIME on timeout and -EINTR on a signal: both just end the park.
            io_uring_submit_and_wait_timeout(m_ring, &cqe, 1, &ts, nullptr);
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

const char* netpoll_kind() noexcept { return "io_uring"; }
std::unique_ptr<netpoll_driver> make_netpoll() { return std::make_unique<poller>(); }

}  // namespace goro::detail
