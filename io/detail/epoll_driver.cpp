// The epoll driver; the design is described in epoll_driver.hpp.
#include "epoll_driver.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <new>
#include <string>

#include "../../runtime/blocking.hpp"
#include "../../runtime/detail/fatal.hpp"
#include "../../runtime/detail/timer_heap.hpp"
#include "../../runtime/error.hpp"
#include "io_op.hpp"

namespace goro::detail {
namespace {

constexpr std::int64_t k_no_deadline = INT64_MAX;
constexpr std::uint64_t k_wake_token = 0;  // epoll data of the wake eventfd (registrations are non-null)

// A file whose waits come from another processor this many times in a row,
// while nothing waits on it, moves to that processor's epoll (see
// "Migration" in epoll_driver.hpp).
constexpr std::uint8_t k_migrate_after = 4;

std::atomic<std::uint64_t> g_migrations{0};  // see epoll_migrations()

// Which FIFO of a registration a request waits in: 0 readable, 1 writable.
int direction_of(const io_request& req) noexcept {
    switch (req.op) {
        case io_kind::send:
        case io_kind::sendmsg:
        case io_kind::connect:
        case io_kind::write: return 1;
        default: return 0;
    }
}

// A stream read that returned less than it asked for emptied the receive
// queue: until the next edge, another read would find nothing (an end of
// file or an error does not count: no further edge would announce them).
bool drains(const io_request& req, int res) noexcept {
    return (req.op == io_kind::recv || req.op == io_kind::read) && res > 0 && static_cast<std::size_t>(res) < req.len;
}

// A stream read on a TCP socket with TCP_INQ on (see "Drained" in
// epoll_driver.hpp): recvmsg, which also reports how many bytes the receive
// queue still holds after it. `emptied` is true when that is none (a read
// that filled its buffer exactly then emptied the queue too). The system
// call is made directly: glibc's recvmsg is a cancellation point, which
// costs two atomic operations around the call, and goro never cancels a
// thread.
int recv_reporting_inq(io_request& r, bool& emptied) noexcept {
    iovec iov{r.buf, r.len};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = control;
    m.msg_controllen = sizeof control;
    const long n = ::syscall(SYS_recvmsg, r.fd, &m, r.flags | MSG_DONTWAIT);
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK ? k_res_would_block : -errno;
    if (n > 0) {
        for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
            if (c->cmsg_level == SOL_TCP && c->cmsg_type == TCP_CM_INQ && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
                int left;
                std::memcpy(&left, CMSG_DATA(c), sizeof left);
                emptied = left == 0;  // after a FIN the kernel reports 1: the end of file is still to read
            }
        }
    }
    return static_cast<int>(n);
}

// One attempt at `req` (the caller holds its file's lock). `emptied`: it
// read and left the receive queue empty, so that until the next edge
// another read would find nothing: a short stream read, or a TCP read whose
// queue the kernel reports empty. An end of file or an error does not count:
// no further edge would announce them.
//
// `ask_inq` (a TCP socket whose last read filled its buffer): read with
// recvmsg and TCP_INQ's report, the only way to learn that a read which
// filled its buffer exactly also emptied the queue. A short read says so by
// itself, so a file whose reads come back short keeps the cheaper recv.
int attempt(io_request& req, bool ask_inq, bool& emptied) noexcept {
    emptied = false;
    const int res = ask_inq && req.op == io_kind::recv ? recv_reporting_inq(req, emptied) : try_nonblocking(req);
    if (res <= 0)
        emptied = false;
    else if (drains(req, res))
        emptied = true;
    return res;
}

// Consecutive instant completions on this thread: every 64th makes its task
// yield, so a task whose operations never wait cannot keep its processor.
// The driver completes that one at its next poll, as if an edge had come
// (see "Yielding" in epoll_driver.hpp; the io_uring driver sends it through
// the ring instead).
[[gnu::noinline]] bool instant_completion_allowed() noexcept {
    thread_local unsigned streak = 0;
    return (++streak & 63u) != 0;
}

[[noreturn]] void epoll_failed(const char* what, int err) noexcept {
    const char* text = strerrordesc_np(err);
    const char* name = strerrorname_np(err);
    char message[256];
    std::snprintf(message, sizeof message, "fatal error: goro: %s: %s (%s)\n", what, text ? text : "unknown error",
                  name ? name : "unknown errno");
    fatal_exit(message);
}

}  // namespace

// One file's registration (see "Registrations" in epoll_driver.hpp).
struct epoll_driver::registration final : file_registration {
    explicit registration(epoll_driver* h) noexcept : home(h) {}

    spin_mutex lock;
    // Guarded by lock. The driver whose epoll holds the file; null once that
    // driver was destroyed (this record then belongs to its file).
    epoll_driver* home;
    bool released = false;           // the file let go of it (guarded by lock)
    io_request* head[2] = {};        // waiters per direction, FIFO (guarded by lock)
    io_request* tail[2] = {};
    bool ready[2] = {};              // an edge came with nobody waiting (guarded by lock)
    // The last attempt in that direction would have blocked, and no edge came
    // since: the next request skips its attempt and waits (guarded by lock).
    bool drained[2] = {};
    // The peer hung up or the socket has an error (EPOLLRDHUP, EPOLLHUP or
    // EPOLLERR seen): a read returns 0 or the error without any further edge,
    // so reads are never skipped as drained. Sticky (guarded by lock).
    bool hung_up = false;
    // TCP_INQ is on for the file: its reads can report what they left in
    // the receive queue (see attempt()). Written when the record is set up
    // for a file, under that file's lock, before it is published; read
    // under it.
    bool reports_inq = false;
    // The last read filled its buffer (so the next one asks for the queue's
    // length, see attempt()). Guarded by the file's lock.
    bool last_read_full = false;

    // Remembers whether a stream read filled its buffer. The caller holds
    // the file's lock.
    void note_read(const io_request& req, int res) noexcept {
        if (req.op == io_kind::recv && res != k_res_would_block)
            last_read_full = res > 0 && static_cast<std::size_t>(res) == req.len;
    }
    std::uint8_t foreign_waits = 0;  // waits in a row from another processor (guarded by lock)
    // home's list of registrations, and its released list (guarded by home's m_lock).
    registration* prev = nullptr;
    registration* next = nullptr;
    registration* next_released = nullptr;

    void release(int fd) noexcept override {
        std::unique_lock guard(lock);
        if (!home) {  // the driver is gone: the file owns this record
            guard.unlock();
            delete this;
            return;
        }
        // DEL before the descriptor closes: the close alone would keep the
        // registration alive if the file were duplicated (dup, fork).
        (void)::epoll_ctl(home->m_epfd, EPOLL_CTL_DEL, fd, nullptr);
        released = true;
        {
            std::lock_guard driver_guard(home->m_lock);
            next_released = home->m_released;
            home->m_released = this;
            home->m_mail.store(true, std::memory_order_release);
        }
    }
};

std::uint64_t epoll_migrations() noexcept { return g_migrations.load(std::memory_order_relaxed); }

epoll_driver::epoll_driver() : m_next_deadline(k_no_deadline) {
    m_owner.bind();
    m_epfd = ::epoll_create1(EPOLL_CLOEXEC);
    if (m_epfd < 0) throw startup_error(std::string("goro: cannot start: epoll_create1 failed: ") + std::strerror(errno));
    m_wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (m_wake_fd < 0) {
        const int err = errno;
        ::close(m_epfd);
        throw startup_error(std::string("goro: cannot start: eventfd failed: ") + std::strerror(err));
    }
    epoll_event ev{};
    ev.events = EPOLLIN;  // level-triggered: stays ready until read
    ev.data.u64 = k_wake_token;
    if (::epoll_ctl(m_epfd, EPOLL_CTL_ADD, m_wake_fd, &ev) != 0) {
        const int err = errno;
        ::close(m_wake_fd);
        ::close(m_epfd);
        throw startup_error(std::string("goro: cannot start: epoll_ctl failed: ") + std::strerror(err));
    }
    try {
        m_heap.reserve(64);
    } catch (...) {
        ::close(m_wake_fd);
        ::close(m_epfd);
        throw;
    }
}

epoll_driver::~epoll_driver() {
    // Registrations still held by live files pass to those files; those
    // already released are freed here (see "Registrations").
    registration* r = m_registrations;
    while (r) {
        registration* next = r->next;
        bool free_it;
        {
            std::lock_guard guard(r->lock);
            free_it = r->released;
            r->home = nullptr;
        }
        if (free_it) delete r;
        r = next;
    }
    while (registration* f = m_free) {
        m_free = f->next_released;
        delete f;
    }
    ::close(m_wake_fd);
    ::close(m_epfd);
}

// ---- starting ----

epoll_driver::registration* epoll_driver::registration_of(fd_state& f, int& error) noexcept {
    error = 0;
    if (f.registration) {
        auto* reg = static_cast<registration*>(f.registration);
        bool orphan;
        {
            std::lock_guard guard(reg->lock);
            orphan = reg->home == nullptr;
        }
        if (!orphan) return reg;
        // Registered by a runtime that has ended: its epoll is gone.
        f.registration = nullptr;
        delete reg;
    }
    if (f.not_pollable) return nullptr;
    registration* reg = m_free;
    if (reg) {
        // A recycled record (see "Registrations"): reset it. Nothing else
        // writes it now; a stale event may still read it (serve), which the
        // lock orders with this.
        m_free = reg->next_released;
        std::lock_guard guard(reg->lock);
        reg->home = this;
        reg->released = false;
        reg->head[0] = reg->head[1] = reg->tail[0] = reg->tail[1] = nullptr;
        reg->ready[0] = reg->ready[1] = false;
        reg->drained[0] = reg->drained[1] = false;
        reg->hung_up = false;
        reg->reports_inq = false;
        reg->last_read_full = false;
        reg->foreign_waits = 0;
        reg->next_released = nullptr;
    } else {
        reg = new (std::nothrow) registration(this);
        if (!reg) {
            error = ENOMEM;
            return nullptr;
        }
    }
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.ptr = reg;
    if (::epoll_ctl(m_epfd, EPOLL_CTL_ADD, f.fd, &ev) != 0) {
        const int err = errno;
        {
            std::lock_guard guard(reg->lock);
            reg->released = true;  // never published: a stale event for a former file skips it
        }
        reg->next_released = m_free;
        m_free = reg;
        // EPERM: a regular file or directory (always "ready"): blocking pool.
        if (err == EPERM) f.not_pollable = true;
        else error = err;
        return nullptr;
    }
    // A TCP socket reports its receive queue's length after each read
    // (Linux 4.18): a read that fills its buffer exactly and empties the
    // queue then needs no second attempt, which would find nothing (see
    // "Drained" in epoll_driver.hpp). Anything else refuses the option.
    const int one = 1;
    reg->reports_inq = ::setsockopt(f.fd, SOL_TCP, TCP_INQ, &one, sizeof one) == 0;
    // Pollable: waits need a non-blocking descriptor (a socket accepted or
    // opened by goro is non-blocking already).
    if (!f.nonblocking) {
        const int flags = ::fcntl(f.fd, F_GETFL);
        if (flags >= 0 && !(flags & O_NONBLOCK)) (void)::fcntl(f.fd, F_SETFL, flags | O_NONBLOCK);
        f.nonblocking = true;
    }
    {
        std::lock_guard guard(m_lock);
        link_registration(*reg);
    }
    f.registration = reg;
    return reg;
}

// Moves `reg` (file `fd`) from its home to this driver. Caller holds the
// file's lock and reg.lock, nothing waits on the file, and this is the
// calling thread's driver. Nothing changes if the kernel refuses, or the old
// home is shutting down.
void epoll_driver::migrate(registration& reg, int fd) noexcept {
    epoll_driver* old = reg.home;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.ptr = &reg;
    // Into the new epoll first: for a moment both report the file's edges;
    // the old home ignores them once reg.home has changed (serve).
    if (::epoll_ctl(m_epfd, EPOLL_CTL_ADD, fd, &ev) != 0) return;
    {
        std::lock_guard guard(old->m_lock);
        // relaxed: m_draining is set under old->m_lock, which orders this
        // read with it; a draining home's list must hold still.
        if (old->m_draining.load(std::memory_order_relaxed)) {
            (void)::epoll_ctl(m_epfd, EPOLL_CTL_DEL, fd, nullptr);
            return;
        }
        old->unlink_registration(reg);
    }
    (void)::epoll_ctl(old->m_epfd, EPOLL_CTL_DEL, fd, nullptr);
    {
        std::lock_guard guard(m_lock);
        link_registration(reg);
    }
    reg.home = this;
    reg.foreign_waits = 0;
    g_migrations.fetch_add(1, std::memory_order_relaxed);
    // An edge the old epoll took with it may be lost: assume data is there.
    reg.ready[0] = reg.ready[1] = true;
    reg.drained[0] = reg.drained[1] = false;
}

void epoll_driver::link_registration(registration& reg) noexcept {
    GORO_ASSERT(m_lock.held_by_current_thread());
    reg.prev = nullptr;
    reg.next = m_registrations;
    if (m_registrations) m_registrations->prev = &reg;
    m_registrations = &reg;
}

void epoll_driver::unlink_registration(registration& reg) noexcept {
    GORO_ASSERT(m_lock.held_by_current_thread());
    if (reg.prev)
        reg.prev->next = reg.next;
    else
        m_registrations = reg.next;
    if (reg.next) reg.next->prev = reg.prev;
    reg.prev = reg.next = nullptr;
}

namespace {
void run_pool_request(blocking_job* job) noexcept {
    io_request& req = *static_cast<io_blocking_job*>(job)->request;
    int res;
    do {
        res = run_blocking(req);
    } while (res == -EINTR);
    if (fd_state* f = req.file) {
        int fd_to_close = -1;
        {
            std::lock_guard guard(f->lock);
            // A pool request is never cancelled or restarted: the outcome is
            // `ready` (the pool readies the task after this returns).
            (void)settle_request(req, res, fd_to_close);
        }
        if (fd_to_close >= 0) ::close(fd_to_close);
    } else {
        req.res = settle_fileless(req, res);
    }
}
}  // namespace

start_outcome epoll_driver::start_on_pool(io_request& req) noexcept {
    req.driver = this;
    req.job.request = &req;
    req.job.waiter = req.g;
    req.job.run = &run_pool_request;
    try {
        submit_blocking(&req.job);
    } catch (...) {
        // No pool thread can be had (max_threads reached with none allowed,
        // or the OS refused a thread): the call fails, nothing ran.
        req.job.request = nullptr;
        req.res = -EAGAIN;
        return start_outcome::done;
    }
    return start_outcome::in_flight;
}

start_outcome epoll_driver::start(io_request& req, std::int64_t deadline) noexcept {
    req.job.request = nullptr;
    req.connect_started = false;
    fd_state* f = req.file;
    if (f) req.fd = f->fd;
    if (!f || req.op == io_kind::fsync || req.op == io_kind::openat || req.op == io_kind::openat_in_worker)
        return start_on_pool(req);
    int error = 0;
    registration* reg = registration_of(*f, error);
    if (!reg) {
        if (error != 0) {
            req.res = -error;
            return start_outcome::done;
        }
        return start_on_pool(req);  // a regular file
    }
    const int dir = direction_of(req);
    for (;;) {
        bool skip_attempt;
        {
            std::lock_guard guard(reg->lock);
            if (reg->home != this) {
                const bool idle = !reg->head[0] && !reg->head[1];
                if (idle && ++reg->foreign_waits >= k_migrate_after) migrate(*reg, f->fd);
            } else {
                reg->foreign_waits = 0;
            }
            // Request/response traffic: the last attempt found nothing and no
            // edge came since, so this one would find nothing either.
            skip_attempt = reg->drained[dir] && !reg->ready[dir] && !reg->hung_up;
            if (!skip_attempt) {
                reg->ready[dir] = false;  // what the attempt below sees covers every edge so far
                reg->drained[dir] = false;
            }
        }
        if (!skip_attempt) {
            bool emptied;
            const int r = attempt(req, reg->reports_inq && reg->last_read_full, emptied);
            reg->note_read(req, r);
            if (r != k_res_would_block) {
                if (emptied) {
                    std::lock_guard guard(reg->lock);
                    if (!reg->ready[dir] && !reg->hung_up) reg->drained[dir] = true;
                }
                req.res = r;
                // relaxed: only this thread (the owner) sets m_draining. A
                // driver shut down polls no more: nothing to yield to.
                if (instant_completion_allowed() || m_draining.load(std::memory_order_relaxed))
                    return start_outcome::done;
                defer(req);
                return start_outcome::in_flight;
            }
        }
        if (enqueue(*reg, req, dir, deadline)) return start_outcome::in_flight;
        // An edge came between the attempt and the queueing: try again.
        if (req.res != 0) return start_outcome::done;  // the home is shutting down
    }
}

// Holds an operation that finished at once (req.res) until the next poll,
// which completes it like an edge would (see "Yielding"). Owner, with
// req.file->lock held.
void epoll_driver::defer(io_request& req) noexcept {
    GORO_ASSERT(m_owner.is_current());
    req.driver = this;
    req.armed_deadline = 0;  // not in the heap: nothing but the poll completes it
    req.wait_next = nullptr;
    m_in_flight.fetch_add(1, std::memory_order_relaxed);
    if (m_deferred_tail)
        m_deferred_tail->wait_next = &req;
    else
        m_deferred = &req;
    m_deferred_tail = &req;
}

// Completes the operations defer() held, with the results they had. Before
// the mailbox: a cancellation posted for one of them meanwhile must not
// replace a result that already took effect (data read or sent); its
// completion withdraws the cancellation.
unsigned epoll_driver::finish_deferred() noexcept {
    unsigned completed = 0;
    io_request* req = std::exchange(m_deferred, nullptr);
    m_deferred_tail = nullptr;
    while (req) {
        io_request* next = std::exchange(req->wait_next, nullptr);
        completed += finish(*req, req->res);
        req = next;
    }
    return completed;
}

// Queues `req` on its file's registration, unless an edge arrived since the
// last attempt (returns false, req.res == 0: try again) or the home drains
// (returns false, req.res = -ECANCELED). Caller holds req.file->lock.
bool epoll_driver::enqueue(registration& reg, io_request& req, int dir, std::int64_t deadline) noexcept {
    std::lock_guard guard(reg.lock);
    if (reg.ready[dir]) {
        reg.ready[dir] = false;
        req.res = 0;
        return false;
    }
    epoll_driver* home = reg.home;
    // relaxed: ordered by reg.lock against cancel_all_and_drain, which sets
    // the flag before it takes each registration's lock.
    if (home->m_draining.load(std::memory_order_relaxed)) {
        req.res = -ECANCELED;
        return false;
    }
    req.driver = home;
    req.armed_deadline = deadline;
    req.wait_next = nullptr;
    // Counted and in the heap before it is visible to the home's owner,
    // which may complete it as soon as the lock is released.
    home->m_in_flight.fetch_add(1, std::memory_order_relaxed);
    if (deadline != 0) {
        std::lock_guard heap_guard(home->m_lock);
        home->heap_add(req);
    }
    if (reg.tail[dir])
        reg.tail[dir]->wait_next = &req;
    else
        reg.head[dir] = &req;
    reg.tail[dir] = &req;
    reg.drained[dir] = true;  // no edge since the attempt (checked above)
    if (home != this) {
        // Another processor's epoll holds the file. Its owner is woken by the
        // file's edges; a deadline earlier than its current park timeout
        // needs a wake-up so that it recomputes the timeout.
        if (deadline != 0) home->wake();
    }
    return true;
}

void epoll_driver::restart(io_request& req, std::int64_t deadline) noexcept {
    // Only settle_request calls this, for a request interrupted while a
    // deadline moved; this driver never hands such a result to it (a moved
    // deadline is handled in drain_mailbox), but a restart must stay
    // correct: queue the request again under the new deadline.
    auto* reg = static_cast<registration*>(req.file->registration);
    if (!reg || !enqueue(*reg, req, direction_of(req), deadline)) {
        // Cannot happen while the file is open and the driver runs; finish
        // it rather than lose it.
        req.res = -ECANCELED;
    }
}

// ---- cancellation ----

void epoll_driver::cancel(io_request& req) noexcept {
    if (req.job.request) return;  // a blocking-pool call: it ends by itself (see the file comment)
    {
        std::lock_guard guard(m_lock);
        if (!m_mailbox.push(&req.cancel_node)) return;  // already asked; the owner has not drained it yet
        m_mail.store(true, std::memory_order_release);
    }
    if (!m_owner.bound_to_current()) wake();
}

void epoll_driver::withdraw(io_request& req) noexcept {
    // Most completions had no cancellation posted: skip the lock then. Safe
    // to read `queued` without m_lock: settle_request calls this with the
    // file's lock held, every push happens under that lock too (close,
    // set_deadline and cancel_for_context hold it when they call cancel()),
    // and only this driver's owner pops, which is the caller (finish()) or
    // never touched the node (a blocking-pool request is never posted).
    if (!req.cancel_node.queued) return;
    std::lock_guard guard(m_lock);
    m_mailbox.remove(&req.cancel_node);
}

// ---- completing (owner thread) ----

// Takes a waiting request off its registration's FIFO and the heap. Owner,
// with req.file->lock held.
void epoll_driver::unlink_waiter(io_request& req) noexcept {
    auto* reg = static_cast<registration*>(req.file->registration);
    const int dir = direction_of(req);
    {
        std::lock_guard guard(reg->lock);
        io_request* prev = nullptr;
        for (io_request* r = reg->head[dir]; r; prev = r, r = r->wait_next) {
            if (r != &req) continue;
            if (prev)
                prev->wait_next = r->wait_next;
            else
                reg->head[dir] = r->wait_next;
            if (reg->tail[dir] == r) reg->tail[dir] = prev;
            break;
        }
        req.wait_next = nullptr;
    }
    if (req.heap_slot != 0) {
        std::lock_guard guard(m_lock);
        heap_remove(req);
    }
}

// Finishes a waiting request with `res` (a result, or -ECANCELED for a
// cancellation that settle_request explains). Owner, without locks.
unsigned epoll_driver::finish(io_request& req, int res) noexcept {
    GORO_ASSERT(m_owner.is_current());
    fd_state& f = *req.file;
    int fd_to_close = -1;
    settle_outcome outcome;
    {
        std::lock_guard guard(f.lock);
        unlink_waiter(req);
        outcome = settle_request(req, res, fd_to_close);
    }
    if (fd_to_close >= 0) ::close(fd_to_close);
    if (outcome != settle_outcome::ready) return 0;  // restarted: in flight again
    // Do not touch req after this: the task may run (and be stolen) at once.
    ready_local(req.g);
    // release: pairs with in_flight()'s acquire (after the push, see m_in_flight).
    m_in_flight.fetch_sub(1, std::memory_order_release);
    return 1;
}

// An edge for `dir`: retries the waiters of that direction in order until
// one would block or none is left.
unsigned epoll_driver::serve(registration& reg, int dir, std::uint32_t events) noexcept {
    io_request* req;
    {
        std::lock_guard guard(reg.lock);
        // Fetched before its EPOLL_CTL_DEL: released (perhaps recycled
        // since: a spurious edge then, which only costs an attempt), or
        // moved to another processor's epoll (which reports the file).
        if (reg.released || reg.home != this) return 0;
        reg.drained[dir] = false;  // an edge: something may have come
        if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) reg.hung_up = true;
        req = reg.head[dir];
        if (!req) {
            reg.ready[dir] = true;  // for the next request on this file
            return 0;
        }
    }
    unsigned completed = 0;
    for (;;) {
        // req is the head, and stays there while it is tried: only this
        // thread takes waiters off.
        fd_state& f = *req->file;
        io_request* next = nullptr;
        bool taken = false;  // a result >= 0: req left the FIFO below
        int res;
        int fd_to_close = -1;
        settle_outcome outcome = settle_outcome::restarted;
        {
            std::lock_guard file_guard(f.lock);
            req->fd = f.fd;
            bool emptied;
            res = attempt(*req, reg.reports_inq && reg.last_read_full, emptied);
            reg.note_read(*req, res);
            {
                std::lock_guard guard(reg.lock);
                if (res == k_res_would_block || emptied) {
                    if (res == k_res_would_block || !reg.hung_up) reg.drained[dir] = true;
                }
                // The edge is spent; the next one will come.
                if (res == k_res_would_block) return completed;
                if (res >= 0) {
                    // A result that settles for good (only an interrupted
                    // one is restarted): off the FIFO now, and who is next,
                    // in this one hold of the lock. Nobody next: what the
                    // edge brought is for the next request, unless this
                    // read emptied the queue.
                    reg.head[dir] = req->wait_next;
                    if (!reg.head[dir]) reg.tail[dir] = nullptr;
                    req->wait_next = nullptr;
                    next = reg.head[dir];
                    if (!next && !reg.drained[dir]) reg.ready[dir] = true;
                    taken = true;
                }
            }
            if (taken) {
                if (req->heap_slot != 0) {
                    std::lock_guard heap_guard(m_lock);
                    heap_remove(*req);
                }
                outcome = settle_request(*req, res, fd_to_close);
            }
        }
        if (!taken) {
            // An error: finish() takes it off (settle_request may restart
            // it); then the head again, as at an edge.
            completed += finish(*req, res);
            std::lock_guard guard(reg.lock);
            if (reg.released || reg.home != this) return completed;
            req = reg.head[dir];
            if (!req) {
                if (!reg.drained[dir]) reg.ready[dir] = true;
                return completed;
            }
            continue;
        }
        if (fd_to_close >= 0) ::close(fd_to_close);
        if (outcome == settle_outcome::ready) {
            // Do not touch req after this: the task may run at once.
            ready_local(req->g);
            // release: pairs with in_flight()'s acquire (see finish()).
            m_in_flight.fetch_sub(1, std::memory_order_release);
            ++completed;
        }
        // A next waiter keeps the file open (in flight) and registered here
        // (a file with waiters never migrates), so reg is still valid.
        if (!next) return completed;
        req = next;
    }
}

unsigned epoll_driver::process_events(int n) noexcept {
    unsigned completed = 0;
    for (int i = 0; i < n; ++i) {
        const epoll_event& e = m_events[i];
        if (e.data.u64 == k_wake_token) {
            std::uint64_t count;
            [[maybe_unused]] ssize_t r = ::read(m_wake_fd, &count, sizeof count);
            continue;
        }
        auto* reg = static_cast<registration*>(e.data.ptr);
        if (e.events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR | EPOLLPRI)) completed += serve(*reg, 0, e.events);
        if (e.events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) completed += serve(*reg, 1, e.events);
    }
    return completed;
}

// Cancellations posted for requests waiting here: finish those whose reason
// holds, move those whose deadline moved.
unsigned epoll_driver::drain_mailbox() noexcept {
    unsigned completed = 0;
    for (;;) {
        io_request* req;
        {
            std::lock_guard guard(m_lock);
            remote_cancel* node = m_mailbox.pop();
            if (!node) return completed;
            // The target still waits here: its completion withdraws the node
            // (under m_lock, on this thread), and a node is only posted while
            // its target is in flight.
            req = static_cast<request_cancel*>(node)->owner;
        }
        fd_state& f = *req->file;
        bool finish_it;
        {
            std::lock_guard guard(f.lock);
            const std::int64_t deadline = effective_deadline(*req);
            finish_it = f.closed || req->ctx_res != 0 || (deadline != 0 && monotonic_now_ns() >= deadline);
            if (!finish_it && deadline != req->armed_deadline) {
                std::lock_guard heap_guard(m_lock);
                if (req->heap_slot != 0) heap_remove(*req);
                req->armed_deadline = deadline;
                if (deadline != 0) heap_add(*req);
            }
        }
        if (finish_it) completed += finish(*req, -ECANCELED);
    }
}

unsigned epoll_driver::expire_deadlines() noexcept {
    unsigned completed = 0;
    for (;;) {
        const std::int64_t now = monotonic_now_ns();
        if (m_next_deadline.load(std::memory_order_relaxed) > now) return completed;
        io_request* req;
        {
            std::lock_guard guard(m_lock);
            if (m_heap.empty() || m_heap.front()->armed_deadline > now) {
                publish_next_deadline();
                return completed;
            }
            req = m_heap.front();
            heap_remove(*req);
        }
        // Still waiting (only this thread completes it). Its deadline may
        // have moved since it was armed (the mailbox has the news too): then
        // finish() is harmless only if it is really past, so check.
        bool past;
        {
            std::lock_guard guard(req->file->lock);
            const std::int64_t deadline = effective_deadline(*req);
            past = deadline != 0 && now >= deadline;
            if (!past) {
                req->armed_deadline = deadline;
                if (deadline != 0) {
                    std::lock_guard heap_guard(m_lock);
                    heap_add(*req);
                }
            }
        }
        if (past) completed += finish(*req, -ECANCELED);
    }
}

void epoll_driver::free_released() noexcept {
    registration* r;
    {
        std::lock_guard guard(m_lock);
        r = m_released;
        m_released = nullptr;
    }
    while (r) {
        registration* next = r->next_released;
        {
            std::lock_guard guard(m_lock);
            unlink_registration(*r);
        }
        // Kept for reuse, never freed while the runtime runs: an event
        // fetched by any driver before the file's EPOLL_CTL_DEL may still
        // point here (see "Registrations").
        r->next_released = m_free;
        m_free = r;
        r = next;
    }
}

unsigned epoll_driver::housekeeping() noexcept {
    GORO_ASSERT(m_owner.is_current());
    unsigned completed = m_deferred ? finish_deferred() : 0;
    // acquire: pairs with the release stores in cancel() and release().
    if (m_mail.exchange(false, std::memory_order_acquire)) {
        completed += drain_mailbox();
        free_released();
    }
    completed += expire_deadlines();
    return completed;
}

void epoll_driver::wait(std::int64_t timeout_ns) noexcept {
    const std::int64_t next = m_next_deadline.load(std::memory_order_relaxed);
    if (next != k_no_deadline) {
        const std::int64_t until = next - monotonic_now_ns();
        const std::int64_t io_timeout = until > 0 ? until : 0;
        if (timeout_ns < 0 || io_timeout < timeout_ns) timeout_ns = io_timeout;
    }
    int n;
    if (m_have_pwait2) {
        timespec ts{};
        ts.tv_sec = timeout_ns / 1'000'000'000;
        ts.tv_nsec = timeout_ns % 1'000'000'000;
        n = ::epoll_pwait2(m_epfd, m_events, k_max_events, timeout_ns < 0 ? nullptr : &ts, nullptr);
        if (n < 0 && errno == ENOSYS) {
            m_have_pwait2 = false;
            wait(timeout_ns);
            return;
        }
    } else {
        // Milliseconds, rounded up: never wake before the deadline.
        const int ms = timeout_ns < 0 ? -1 : static_cast<int>(std::min<std::int64_t>((timeout_ns + 999'999) / 1'000'000, INT_MAX));
        n = ::epoll_wait(m_epfd, m_events, k_max_events, ms);
    }
    if (n < 0) {
        if (errno == EINTR) return;  // a signal: the scheduler parks again with a fresh timeout
        epoll_failed("epoll_wait", errno);
    }
    m_pending_events = n;
}

unsigned epoll_driver::poll() noexcept {
    unsigned completed = housekeeping();
    wait(0);
    completed += process_events(std::exchange(m_pending_events, 0));
    return completed;
}

unsigned epoll_driver::park(std::int64_t timeout_ns) noexcept {
    unsigned completed = housekeeping();
    wait(completed > 0 ? 0 : timeout_ns);
    completed += process_events(std::exchange(m_pending_events, 0));
    completed += housekeeping();  // the wait may have ended at a deadline
    return completed;
}

void epoll_driver::wake() noexcept {
    const std::uint64_t one = 1;
    // Fails only with EAGAIN when the counter is saturated: a wake-up is
    // pending already, nothing is lost.
    [[maybe_unused]] ssize_t n = ::write(m_wake_fd, &one, sizeof one);
}

bool epoll_driver::has_work() const noexcept {
    return m_in_flight.load(std::memory_order_relaxed) > 0 || m_mail.load(std::memory_order_relaxed);
}

void epoll_driver::cancel_all_and_drain() noexcept {
    GORO_ASSERT(m_owner.is_current());
    // Requests queued from now on fail at once (enqueue). release: published
    // to enqueuers through each registration's lock, taken below.
    {
        // Under m_lock: a migration away from this driver checks the flag
        // under it, so from here on the list holds still.
        std::lock_guard guard(m_lock);
        m_draining.store(true, std::memory_order_release);
    }
    housekeeping();
    for (registration* reg = m_registrations; reg; reg = reg->next) {
        for (int dir = 0; dir < 2; ++dir) {
            for (;;) {
                io_request* req;
                {
                    std::lock_guard guard(reg->lock);
                    req = reg->head[dir];
                }
                if (!req) break;
                finish(*req, -ECANCELED);
            }
        }
    }
    free_released();
}

// ---- the deadline heap (m_lock held) ----

void epoll_driver::heap_swap(std::size_t a, std::size_t b) noexcept {
    std::swap(m_heap[a], m_heap[b]);
    m_heap[a]->heap_slot = static_cast<std::uint32_t>(a + 1);
    m_heap[b]->heap_slot = static_cast<std::uint32_t>(b + 1);
}

void epoll_driver::heap_fix(std::size_t i) noexcept {
    while (i > 0) {
        const std::size_t parent = (i - 1) / 2;
        if (m_heap[parent]->armed_deadline <= m_heap[i]->armed_deadline) break;
        heap_swap(i, parent);
        i = parent;
    }
    for (;;) {
        const std::size_t l = 2 * i + 1;
        const std::size_t r = l + 1;
        std::size_t least = i;
        if (l < m_heap.size() && m_heap[l]->armed_deadline < m_heap[least]->armed_deadline) least = l;
        if (r < m_heap.size() && m_heap[r]->armed_deadline < m_heap[least]->armed_deadline) least = r;
        if (least == i) break;
        heap_swap(i, least);
        i = least;
    }
}

void epoll_driver::heap_add(io_request& req) noexcept {
    GORO_ASSERT(m_lock.held_by_current_thread());
    try {
        m_heap.push_back(&req);
    } catch (const std::bad_alloc&) {
        fatal_exit("fatal error: goro: out of memory arming an I/O deadline\n");
    }
    req.heap_slot = static_cast<std::uint32_t>(m_heap.size());
    heap_fix(m_heap.size() - 1);
    publish_next_deadline();
}

void epoll_driver::heap_remove(io_request& req) noexcept {
    GORO_ASSERT(m_lock.held_by_current_thread());
    const std::size_t i = req.heap_slot - 1;
    const std::size_t last = m_heap.size() - 1;
    if (i != last) heap_swap(i, last);
    m_heap.pop_back();
    req.heap_slot = 0;
    if (i < m_heap.size()) heap_fix(i);
    publish_next_deadline();
}

void epoll_driver::publish_next_deadline() noexcept {
    m_next_deadline.store(m_heap.empty() ? k_no_deadline : m_heap.front()->armed_deadline, std::memory_order_relaxed);
}

}  // namespace goro::detail
