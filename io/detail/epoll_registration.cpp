// The epoll driver's registrations (see "Registrations" and "Migration" in
// epoll_driver.hpp): a file's record is made or recycled when it first has
// to wait (registration_of), moves to the processor its waits come from
// (migrate), and is released before its descriptor closes, then kept for
// reuse until the driver is destroyed (free_released).
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <cerrno>
#include <mutex>
#include <new>

#include "../../runtime/detail/intrusive_list.hpp"
#include "epoll_driver.hpp"
#include "epoll_registration.hpp"
#include "io_op.hpp"

namespace goro::detail {
namespace {

std::atomic<std::uint64_t> g_migrations{0};  // see epoll_migrations()

}  // namespace

// Called by the file just before its descriptor closes (see "Registrations").
void epoll_driver::registration::release(int fd) noexcept {
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

std::uint64_t epoll_migrations() noexcept { return g_migrations.load(std::memory_order_relaxed); }

// Registers a file that has no registration here (caller holds its lock).
// Null: a regular file (f.not_pollable, for the blocking pool), or `error`.
epoll_driver::registration* epoll_driver::registration_of(fd_state& f, int& error) noexcept {
    GORO_ASSERT(!f.registration);
    error = 0;
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

// A record whose home was destroyed (a file that outlived its runtime: start
// saw reg.home null under reg.lock) belongs to its file: freed, and the file
// registered here instead. Caller holds the file's lock.
epoll_driver::registration* epoll_driver::replace_orphan(fd_state& f, registration& orphan, int& error) noexcept {
    GORO_ASSERT(f.registration == &orphan);
    f.registration = nullptr;
    delete &orphan;
    return registration_of(f, error);
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
    list_push_front<&registration::prev, &registration::next>(m_registrations, reg);
}

void epoll_driver::unlink_registration(registration& reg) noexcept {
    GORO_ASSERT(m_lock.held_by_current_thread());
    list_erase<&registration::prev, &registration::next>(m_registrations, reg);
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

}  // namespace goro::detail
