// Completing operations on the epoll driver (owner thread): a readiness
// edge retries the waiters of its direction in order (serve), and finish
// settles a waiting request (an error, a cancellation, a deadline). The
// edges come from the loop in epoll_driver.cpp.
#include <sys/epoll.h>
#include <unistd.h>

#include <mutex>

#include "epoll_attempt.hpp"
#include "epoll_driver.hpp"
#include "epoll_registration.hpp"
#include "io_op.hpp"

namespace goro::detail {

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
    if (req.heap_slot.load(std::memory_order_relaxed) != 0) {
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
                if (req->heap_slot.load(std::memory_order_relaxed) != 0) {
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

}  // namespace goro::detail
