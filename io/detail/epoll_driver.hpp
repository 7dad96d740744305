// epoll_driver — the readiness-based netpoller, for where io_uring is blocked
// (container seccomp profiles, kernel.io_uring_disabled) or asked for
// (GORO_NETPOLL=epoll, options::netpoll). Same operations, errors, deadline,
// close and context semantics as the io_uring driver (io_op.hpp).
//
// ## Design
//
// One epoll instance per logical processor (its parking place, as the ring
// is for the io_uring driver), with an eventfd for wake().
//
// Sockets, pipes and other pollable files: the operation is first tried as a
// non-blocking system call (try_nonblocking). Only when it would block does
// the request wait. Each file is registered once, edge-triggered for both
// directions (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, as Go's netpoller),
// with the epoll of the processor where it first had to wait: its *home*.
// Every later wait on that file, from any processor, queues on the file's
// registration and is completed by the home processor's thread: a readiness
// edge makes it retry the head waiter of that direction's FIFO, then the
// next, until one would block (the edge is spent) or none is left (the
// registration remembers the edge: `ready`, so the next request to arrive
// retries instead of waiting for an edge that already came). Nothing is
// re-armed per operation: one epoll_ctl per file, none per I/O.
//
// After an attempt that would block, or a stream read that returned less
// than it asked for (it emptied the receive queue), and until the next edge,
// unless the peer has hung up (a read then ends without another edge),
// the registration is `drained` in that direction: the next request waits
// without trying (a request/response connection's next message is rarely
// there yet), which saves a system call per read.
//
// A read that fills its buffer exactly (read_exact of a fixed-size message)
// cannot tell by its count whether it emptied the queue. TCP sockets are
// registered with TCP_INQ on (Linux 4.18), and a read on one whose last
// read filled its buffer is made with recvmsg, which also reports the bytes
// left in the queue: none, and the registration is drained as after a short
// read. The kernel reads the queue's length after it processed the
// socket's backlog, and data queued later comes with an edge, so a drained
// registration never sleeps on data that is there. (On tcp_echo the client's
// reads went from two system calls per message, one of them EAGAIN, to one.)
// Files whose reads come back short keep plain recv; others never ask.
// TCP_INQ is a socket option: a program that calls recvmsg on the
// descriptor itself with room for control messages also receives the
// TCP_CM_INQ message.
//
// ## Yielding
//
// An operation that completes at once returns to its task without a
// suspension; every 64th in a row on a thread makes the task yield instead,
// so that a task whose operations never wait cannot keep its processor.
// That operation is held by the driver (in flight, with its result) and
// completed by the processor's next poll, as if an edge had come: the task
// then waits behind what its processor already had, and stays on that
// processor. (Yielding through the global run queue, as before, sent 1 in
// 64 of tcp_echo's round trips to whichever processor looked first, which
// split connection pairs whose two ends had settled on one processor.)
// Cancellations posted meanwhile do not replace the result, which already
// took effect.
//
// Regular files (epoll refuses them with EPERM), fsync and opens run as
// blocking calls on the blocking pool, as Go does; an open then behaves
// exactly as open(2), and such a call cannot be cancelled once it runs (a
// context, a deadline or close() take effect when it returns).
//
// ## Completion, cancellation, deadlines
//
// A waiting request is completed only by its home's owner thread: on an
// edge, on a cancellation, or when its deadline passes. Cancellations from
// other threads (close, a moved deadline, a context) go through the home's
// mailbox, as with io_uring's SINGLE_ISSUER rings, and the owner re-evaluates
// them: the file closed, the context done or the deadline past finish the
// request (settle_request turns that into the user's error); a deadline that
// moved just moves the request in the deadline heap. Deadlines live in a
// min-heap per driver; the earliest one bounds the park timeout
// (epoll_pwait2: nanoseconds).
//
// ## Registrations and the fd-reuse guarantee
//
// A registration lives until its file's descriptor is closed for good, which
// happens only when no request on it is in flight (fd_state): so no waiting
// request can ever be retried against a new file with the same number. Just
// before the close, the file releases the registration (EPOLL_CTL_DEL, then
// the record goes to its home's released list). The home keeps released
// records for reuse and frees them only when the driver is destroyed: an
// event fetched by any processor before the DEL may still point to one. Such
// a stale event finds the record released, or homed elsewhere (ignored), or
// reused for another file, where it is a spurious edge: the head waiter's
// attempt would block and it goes on waiting. A registration whose home was
// destroyed (a file that outlived its runtime) belongs to its file, which
// frees it.
//
// ## Migration
//
// A file is homed where it first waited; its later waits may come from
// another processor (a task stolen there). When k_migrate_after waits in a
// row come from one other processor while nothing waits on the file, the
// file moves to that processor's epoll (EPOLL_CTL_ADD there, then DEL from
// the old one), so that the processor running its tasks also receives its
// edges, as an io_uring completion goes to the ring that submitted. Without
// it every edge of a file homed on a busy processor readies its task there
// and wakes the other processor to steal it: on tcp_echo that was half a
// million wake-ups and context switches per run.
//
// ## Locks
//
// Order: fd_state::lock, then a registration's lock, then a driver's lock
// (mailbox, dead list, deadline heap). The owner never holds a registration's
// lock while it takes a file's lock.
//
// ## Where the code is
//
// Split by concern; the opening comment of epoll_driver.cpp lists the files
// (the loop there; registrations, starting, serving edges and deadlines in
// epoll_registration.cpp, epoll_start.cpp, epoll_serve.cpp and
// epoll_deadlines.cpp; the record in epoll_registration.hpp).
#pragma once

#include <sys/epoll.h>

#include <atomic>
#include <cstdint>
#include <vector>

#include "../../runtime/detail/invariant.hpp"
#include "../../runtime/detail/netpoll.hpp"
#include "../../runtime/detail/spin_mutex.hpp"
#include "io_operation.hpp"

namespace goro::detail {

struct fd_state;

class epoll_driver final : public netpoll_driver {
public:
    /// Creates the epoll instance and the wake eventfd on the owner thread.
    /// Throws goro::startup_error saying why when the kernel refuses.
    epoll_driver();
    ~epoll_driver() override;
    epoll_driver(const epoll_driver&) = delete;
    epoll_driver& operator=(const epoll_driver&) = delete;

    unsigned poll() noexcept override;
    unsigned park(std::int64_t timeout_ns) noexcept override;
    void wake() noexcept override;
    bool has_work() const noexcept override;
    /// acquire: pairs with the release decrement after a completion readied
    /// its task (see complete()).
    std::int64_t in_flight() const noexcept override { return m_in_flight.load(std::memory_order_acquire); }
    /// A poll(2) of the epoll descriptor, which is readable while its ready
    /// list is not empty; nothing is consumed. Every registration reports
    /// both directions, edge-triggered, so a write-space edge no task waits
    /// for also counts: a hint (netpoll.hpp).
    bool events_waiting() noexcept override;
    void cancel_all_and_drain() noexcept override;
    const char* name() const noexcept override { return "epoll"; }

    start_outcome start(io_request& req, std::int64_t deadline) noexcept override;
    void restart(io_request& req, std::int64_t deadline) noexcept override;
    void cancel(io_request& req) noexcept override;
    void withdraw(io_request& req) noexcept override;
    bool blocking_file_ops() const noexcept override { return true; }
    // Any thread may epoll_wait on the epoll and complete its requests; the
    // owner role (polling, completing, the free list) moves whole.
    bool movable() const noexcept override { return true; }
    void adopt() noexcept override { m_owner.bind(); }

private:
    struct registration;

    static constexpr std::int64_t k_no_deadline = INT64_MAX;  // m_next_deadline when no deadline is armed

    registration* registration_of(fd_state& f, int& error) noexcept;
    registration* replace_orphan(fd_state& f, registration& orphan, int& error) noexcept;
    void migrate(registration& reg, int fd) noexcept;
    void link_registration(registration& reg) noexcept;
    void unlink_registration(registration& reg) noexcept;
    start_outcome start_on_pool(io_request& req) noexcept;
    bool enqueue(registration& reg, io_request& req, int dir, std::int64_t deadline) noexcept;
    void defer(io_request& req) noexcept;
    unsigned finish_deferred() noexcept;
    unsigned process_events(int n) noexcept;
    unsigned serve(registration& reg, int dir, std::uint32_t events) noexcept;
    unsigned finish(io_request& req, int res) noexcept;
    void unlink_waiter(io_request& req) noexcept;
    unsigned drain_mailbox() noexcept;
    unsigned expire_deadlines() noexcept;
    void free_released() noexcept;
    unsigned housekeeping() noexcept;
    void wait(std::int64_t timeout_ns) noexcept;

    // Deadline heap (guarded by m_lock): a binary min-heap on
    // armed_deadline; each request knows its slot (heap_slot, 1-based, 0 =
    // absent).
    void heap_add(io_request& req) noexcept;
    void heap_remove(io_request& req) noexcept;
    void heap_swap(std::size_t a, std::size_t b) noexcept;
    void heap_fix(std::size_t i) noexcept;
    void publish_next_deadline() noexcept;

    int m_epfd = -1;
    int m_wake_fd = -1;
    owner_thread m_owner;       // the thread that made it: the only one to poll and complete
    bool m_have_pwait2 = true;  // epoll_pwait2 exists (Linux 5.11); else millisecond epoll_wait

    // Requests waiting in this driver's registrations. Incremented by the
    // thread that queues one (any processor, under the registration's lock,
    // before the request is visible), decremented (release) by the owner
    // only after the completion readied the task, so the deadlock detector
    // never sees "no I/O" while a task is about to become runnable.
    std::atomic<std::int64_t> m_in_flight{0};
    // Set (under each registration's lock afterwards) when shutdown drains
    // this driver: a request that arrives later fails with ECANCELED.
    std::atomic<bool> m_draining{false};

    spin_mutex m_lock;  // guards the registrations, the mailbox, the released list and the heap
    // Every registration homed here (for shutdown and teardown). Guarded by
    // m_lock: a migration moves one from another thread. Frozen once
    // m_draining is set (migrations away check it under m_lock).
    registration* m_registrations = nullptr;  // intrusive_list.hpp
    cancel_mailbox m_mailbox;
    registration* m_released = nullptr;
    registration* m_free = nullptr;  // owner only: released records kept for reuse
    std::vector<io_request*> m_heap;
    // The earliest armed deadline (k_no_deadline when none): written under
    // m_lock, read by the owner without it to skip the lock when nothing
    // expired (relaxed: a stale value only delays the check to the next
    // poll, and the owner re-reads it under the lock).
    std::atomic<std::int64_t> m_next_deadline;
    // Something was posted to the mailbox or the released list: set under
    // m_lock (release), read by has_work() and the owner (acquire).
    std::atomic<bool> m_mail{false};

    static constexpr int k_max_events = 128;
    epoll_event m_events[k_max_events];
    int m_pending_events = 0;  // owner only: events wait() left in m_events
    // Operations that finished at once and make their task yield: completed
    // by the next poll (see "Yielding"). Owner only; linked by wait_next.
    io_request* m_deferred = nullptr;
    io_request* m_deferred_tail = nullptr;
};

/// How many files moved between epoll instances in this process so far (a
/// relaxed count: for tests, which check that migration happened).
std::uint64_t epoll_migrations() noexcept;

}  // namespace goro::detail
