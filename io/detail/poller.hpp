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
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

struct io_uring;
struct io_uring_sqe;

namespace goro::detail {

/// An in-flight io_uring operation. `complete` runs on the owning processor's
/// thread with the CQE's res and flags.
struct io_operation {
    void (*complete)(io_operation* self, int res, unsigned flags) noexcept = nullptr;
};

class poller {
public:
    /// Sets up a ring with the best flags the kernel accepts. Throws
    /// goro::startup_error with a message saying why and what to do when
    /// io_uring cannot be used here.
    explicit poller(unsigned entries = 256);
    ~poller();
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
    unsigned park(std::int64_t timeout_ns) noexcept;

    /// Any thread. Makes a park() in progress (or the next one) return.
    void wake() noexcept;

    /// Owner thread. Cancels every user operation in flight and waits until all
    /// of them have completed (their records may then be freed).
    void cancel_all_and_drain() noexcept;

    /// User operations submitted and not yet completed (owner writes; others read racily).
    std::int64_t in_flight() const noexcept { return m_in_flight.load(std::memory_order_relaxed); }

    /// True when SQEs were prepared but not yet handed to the kernel.
    bool has_pending_submissions() const noexcept;

    /// The setup flags the ring ended up with, for diagnostics ("single_issuer|defer_taskrun").
    const std::string& setup_description() const noexcept { return m_setup; }

    io_uring* ring() noexcept { return m_ring; }

private:
    unsigned reap() noexcept;
    void arm_wake_read() noexcept;
    static void on_wake_read(io_operation* self, int res, unsigned flags) noexcept;

    io_uring* m_ring = nullptr;
    int m_wake_fd = -1;
    bool m_defer_taskrun = false;
    // Only the owner writes (load + store, no read-modify-write needed); other
    // threads read it racily (relaxed) for the deadlock detector, which only
    // looks while the owner is parked.
    std::atomic<std::int64_t> m_in_flight{0};
    void add_in_flight(std::int64_t delta) noexcept {
        m_in_flight.store(m_in_flight.load(std::memory_order_relaxed) + delta, std::memory_order_relaxed);
    }
    std::uint64_t m_wake_buffer = 0;
    struct wake_op : io_operation {
        poller* owner;
    } m_wake_op{};
    std::string m_setup;
};

}  // namespace goro::detail
