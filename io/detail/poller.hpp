// poller — one io_uring per logical processor: the netpoller and the
// processor's parking place in one.
//
// The processor that owns a poller is the only thread that submits to or
// reaps from its ring (IORING_SETUP_SINGLE_ISSUER). Other threads interact
// with it in exactly one way: wake(), which writes the poller's eventfd; the
// ring always has a read of that eventfd armed, so a parked processor (blocked
// in io_uring_enter) returns as soon as anyone wakes it.
//
// An I/O operation is described by an io_operation record that lives in the
// awaiting coroutine's frame (no allocation per operation); its address is the
// SQE's user_data. When the CQE arrives, reap() calls its `complete` function
// on the owner thread.
//
// Submissions are batched: get_sqe() only fills the submission queue; the
// processor calls submit_and_reap() once per scheduling round, and park()
// submits whatever is pending before it sleeps. A full submission queue is
// flushed on the spot, so no operation is ever dropped. CQ overflow is left to
// the kernel (IORING_FEAT_NODROP): overflowed CQEs are flushed back on the
// next io_uring_enter, which reap() performs whenever operations are in flight.
//
// ## Hand-off (uring_handoff.cpp)
//
// A SINGLE_ISSUER | DEFER_TASKRUN ring is bound to the thread that made it:
// the kernel refuses every other thread (-EEXIST). When the monitor hands
// the processor to another thread (runtime/handoff.cpp), that thread calls
// adopt(): it makes a new ring of its own for the processor and moves the
// operations in flight onto it. Every request on the ring is in the
// poller's list of requests in flight (m_requests, owner only), so they can
// be found. adopt():
//   - takes the completions already posted on the old ring (its CQ is plain
//     memory, and the thread that lost the processor does not touch it) and
//     runs them;
//   - takes back the SQEs the old thread prepared and the kernel never
//     consumed (the SQ tail is rolled back to the kernel's head): those
//     requests never started, and start again on the new ring;
//   - starts every socket request (recv, send, recvmsg, sendmsg, accept,
//     connect) again on the new ring, under the deadline it was armed with
//     (an absolute time), and re-arms the wake-up read. An accept waits for
//     POLLIN first (an accept's own poll wait is exclusive, and the old
//     ring's stale one, first in the socket's queue, would take the wake-up
//     of the next connection); a connect in progress waits for POLLOUT and
//     reads SO_ERROR (a second connect would fail with EALREADY);
//   - leaves every other request (file reads and writes, opens, fsync:
//     their effect may have happened already, in a kernel worker) on the
//     old ring, which becomes an orphan (a poller of its own, returned by
//     take_orphan()) that the old thread drives when its task suspends.
// Why moving is safe: with DEFER_TASKRUN, a socket request waiting on the
// old ring does its I/O (the recv's copy, the send) only in task work, which
// runs only when the old thread enters the ring with GETEVENTS. The old
// thread, back, first cancels every moved request (retire()) in plain
// submissions, before any task work runs: a poll request whose wake-up is
// pending completes with -ECANCELED without doing its I/O. Their CQEs are
// then dropped by user_data, never dereferenced (the frames may be gone);
// the requests left behind complete normally (their tasks are readied
// through the global queue, as for any thread without a processor); then
// the orphan is destroyed. (These kernel facts were checked on Linux 6.18
// with a standalone liburing program before this was built.)
//
// Every io_uring_enter (each liburing submit or wait) goes through enter(),
// which judges its result in one place: EINTR, EAGAIN and EBUSY are retried
// (the last two after making room, see enter()), -ETIME ends a timed wait,
// and anything else ends the process with a fatal error naming the call and
// the errno (exit 2): a ring that cannot enter the kernel cannot run I/O or
// park, and retrying it would only spin.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "../../runtime/detail/invariant.hpp"
#include "../../runtime/detail/netpoll.hpp"
#include "../../runtime/detail/spin_mutex.hpp"
#include "io_operation.hpp"

struct io_uring;
struct io_uring_sqe;

namespace goro::detail {

struct io_request;  // io_op.hpp

/// The cancellation of `req` (on a file) is still wanted: its file was
/// closed, its context is done, or its deadline moved since it was armed.
/// Caller holds req.file->lock. (uring_ops.cpp)
bool cancel_wanted(const io_request& req) noexcept;

/// user_data of requests whose completions are ignored (linked timeouts, the
/// shutdown's cancel-everything): reap() skips them without touching in_flight().
inline constexpr std::uint64_t k_ignored_user_data = 1;

class poller final : public netpoll_driver {
public:
    /// Sets up a ring with the best flags the kernel accepts. Throws
    /// goro::startup_error with a message saying why and what to do when
    /// io_uring cannot be used here.
    explicit poller(unsigned entries = 256);
    ~poller() override;
    poller(const poller&) = delete;
    poller& operator=(const poller&) = delete;

    /// Owner thread. A free SQE (flushing the queue to the kernel if it is full).
    /// The caller must fill it and set its user_data to an io_operation, then
    /// call note_submitted().
    io_uring_sqe* get_sqe() noexcept;
    void note_submitted() noexcept { add_in_flight(1); }

    /// Owner thread. Submits pending SQEs and runs the completions that are ready.
    /// Returns the number of user operations completed.
    unsigned submit_and_reap() noexcept;

    /// Owner thread. Submits pending SQEs and blocks until a completion, a
    /// wake() or the timeout (nanoseconds; negative = no timeout). Runs the
    /// completions that arrived; returns how many user operations completed.
    unsigned park(std::int64_t timeout_ns) noexcept override;

    /// Owner thread. Like get_sqe(), but guarantees that `n` consecutive SQEs
    /// can be taken without an intervening flush (for linked requests: a flush
    /// between an operation and its IORING_OP_LINK_TIMEOUT would cut the link).
    void reserve(unsigned n) noexcept;

    /// Any thread. Makes a park() in progress (or the next one) return.
    void wake() noexcept override;

    /// Any thread. Asks the owner to cancel `node->target`: the node is queued
    /// in the mailbox (unless already queued) and the owner woken. The owner
    /// drains the mailbox before each submit (submit_and_reap, park), turning
    /// each node into an IORING_OP_ASYNC_CANCEL. The node must stay valid until
    /// drained or withdrawn.
    void post_cancel(remote_cancel* node) noexcept;

    /// Any thread (in practice the owner, when the target completes). Removes
    /// the node from the mailbox if it is still queued, so that the memory
    /// holding it may be reused.
    void withdraw_cancel(remote_cancel* node) noexcept;

    /// Owner thread. Cancels the operation whose user_data is node->target (an
    /// SQE, submitted with the next batch). Counts the cancellation in
    /// node->in_flight and in in_flight(); its completion calls node->complete.
    void cancel_local(remote_cancel* node) noexcept;

    /// Owner thread. Cancels every user operation in flight and waits until all
    /// of them have completed (their records may then be freed).
    void cancel_all_and_drain() noexcept override;

    /// User operations submitted and not yet completed (owner writes; others
    /// read racily). acquire: pairs with the release store in add_in_flight,
    /// so a reader that sees an operation counted out also sees the run-queue
    /// push its completion made (see reap()).
    std::int64_t in_flight() const noexcept override { return m_in_flight.load(std::memory_order_acquire); }

    /// Owner thread. True when SQEs were prepared but not yet handed to the
    /// kernel, or completions are waiting to be handled (submit_and_reap does both).
    bool has_pending_submissions() const noexcept;

    // ---- the rest of the scheduler's interface (runtime/detail/netpoll.hpp) ----
    unsigned poll() noexcept override { return submit_and_reap(); }
    bool has_work() const noexcept override { return in_flight() > 0 || has_pending_submissions(); }
    bool events_waiting() noexcept override;
    const char* name() const noexcept override { return "io_uring"; }

    // ---- the I/O code's half (io/detail/uring_ops.cpp) ----
    start_outcome start(io_request& req, std::int64_t deadline) noexcept override;
    void restart(io_request& req, std::int64_t deadline) noexcept override;
    void cancel(io_request& req) noexcept override;
    void withdraw(io_request& req) noexcept override;
    bool blocking_file_ops() const noexcept override { return false; }
    // A SINGLE_ISSUER ring refuses every other thread's io_uring_enter
    // (-EEXIST): adopt() moves the operations to a new ring ("Hand-off"
    // above). A ring without it (older kernels) is driven by the new thread.
    bool movable() const noexcept override { return true; }
    void adopt() noexcept override;
    std::unique_ptr<netpoll_driver> take_orphan() noexcept override { return std::move(m_orphan); }
    void retire() noexcept override;

    /// Owner thread: `req` is (again) in flight on this poller's ring
    /// (restart), or no longer (its completion).
    void link_request(io_request& req) noexcept;
    void unlink_request(io_request& req) noexcept;

    /// The setup flags the ring ended up with, for diagnostics ("single_issuer|defer_taskrun").
    const std::string& setup_description() const noexcept { return m_setup; }

    io_uring* ring() noexcept { return m_ring; }

private:
    // How enter() treats EINTR, and EAGAIN/EBUSY once it has made room:
    // a submission retries until the kernel took it; a wait returns to its
    // caller (a signal, or completions it collected, end the wait).
    enum class enter_kind { submit, wait };
    template <typename Call>
    int enter(enter_kind kind, const char* what, Call call) noexcept;
    int submit() noexcept;
    bool stash_completions() noexcept;
    void wait_for_room() noexcept;

    unsigned reap() noexcept;
    // Hand-off (uring_handoff.cpp).
    struct orphan_tag {};
    explicit poller(orphan_tag) noexcept;
    struct dropped_op {
        std::uint64_t user_data;
        bool harmless;   // a poll or the wake-up read: no effect to lose
        bool completed;  // its one completion came
    };
    void setup_ring(unsigned entries);
    bool drop_if_moved(std::uint64_t user_data, int res) noexcept;
    void submit_orphan_cancels() noexcept;

    void drain_mailbox() noexcept;
    void arm_wake_read() noexcept;
    static void on_wake_read(io_operation* self, int res, unsigned flags) noexcept;

    io_uring* m_ring = nullptr;
    // The thread that made the ring, the only one that may submit and reap
    // (SINGLE_ISSUER); checked in checked builds (invariant.hpp).
    owner_thread m_owner;
    int m_wake_fd = -1;
    bool m_defer_taskrun = false;
    bool m_single_issuer = false;
    // The ring was set up with IORING_SETUP_TASKRUN_FLAG and the kernel was
    // seen to honour it (probe_taskrun_flag): with DEFER_TASKRUN, the
    // kernel sets IORING_SQ_TASKRUN in the SQ ring's flags whenever
    // completions wait as deferred task work. submit_and_reap then enters
    // the kernel only when something waits or is to be submitted, instead
    // of at every round while operations are in flight; the monitor reads
    // the flag for events_waiting().
    bool m_taskrun_flag = false;
    void probe_taskrun_flag() noexcept;
    // The monitor's view of the ring (events_waiting): the ring while it is
    // this poller's and fully set up, else null. Published under
    // m_hint_lock once the ring is set up; withdrawn under it by adopt()
    // before the old ring becomes the orphan's (whose destruction unmaps
    // it). A reader holds the lock while it reads through the pointer, so
    // it never touches a ring being set up or unmapped. Only the monitor
    // and a hand-off take the lock: never the owner's hot path.
    spin_mutex m_hint_lock;
    io_uring* m_hint_ring = nullptr;
    bool m_hint_taskrun_flag = false;  // m_taskrun_flag of m_hint_ring
    void publish_hint_ring(io_uring* ring) noexcept {
        std::lock_guard guard(m_hint_lock);
        m_hint_ring = ring;
        m_hint_taskrun_flag = ring && m_taskrun_flag;
    }
    // Only the owner writes (load + store, no read-modify-write needed); other
    // threads read it (acquire) for the deadlock detector. A completion is
    // counted out only after its waiter was pushed on a run queue (reap), and
    // the release store publishes that push.
    std::atomic<std::int64_t> m_in_flight{0};
    void add_in_flight(std::int64_t delta) noexcept {
        m_in_flight.store(m_in_flight.load(std::memory_order_relaxed) + delta, std::memory_order_release);
    }
    std::uint64_t m_wake_buffer = 0;
    struct wake_op : io_operation {
        poller* owner;
    } m_wake_op{};
    std::string m_setup;

    // Hand-off ("Hand-off" above). The requests in flight on this poller
    // (each on m_ring, or on an older ring until adopt() sorted them out):
    // a doubly linked list through io_request::ring_prev/ring_next. Owner
    // thread only.
    io_request* m_requests = nullptr;  // intrusive_list.hpp
    // The old ring, made by adopt() and taken by the hand-off's adopter
    // for the thread that lost the processor (take_orphan). Owner only.
    std::unique_ptr<poller> m_orphan;
    // An orphan: the user_data of the operations moved away from its ring,
    // whose completions are dropped unread (sorted). Written by adopt()
    // before the orphan is published, then by the orphan's owner only.
    std::vector<dropped_op> m_dropped;
    bool m_is_orphan = false;

    // CQEs taken off the ring by stash_completions() (when the kernel wants
    // room and handlers cannot run: see enter()) and not yet handled; reap()
    // handles them first, oldest first. Owner thread only.
    struct completion {
        std::uint64_t user_data;
        int res;
        unsigned flags;
    };
    std::vector<completion> m_backlog;
    std::size_t m_backlog_head = 0;

    // The cross-thread cancellation mailbox: a doubly linked list of
    // remote_cancel nodes. Written by any thread under m_mailbox_lock; drained
    // by the owner. m_mailbox_nonempty lets the owner skip the lock when empty:
    // set (release) by post_cancel after linking the node, under the lock;
    // read (acquire) by the owner before it takes the lock. A stale "false"
    // only delays the drain until after the wake() that post_cancel sends.
    std::mutex m_mailbox_lock;
    cancel_mailbox m_mailbox;
    std::atomic<bool> m_mailbox_nonempty{false};
};

}  // namespace goro::detail
