// epoll_registration — one file's record in the epoll driver: its waiters
// per direction, what its last edges and attempts said (ready, drained,
// hung_up), and its home processor's epoll. The record's life, the fd-reuse
// guarantee and migration are described in epoll_driver.hpp
// ("Registrations", "Migration"); the code that creates, moves and recycles
// records is in epoll_registration.cpp, the code that serves their edges in
// epoll_serve.cpp. Internal to the epoll driver's files.
#pragma once

#include <cstdint>

#include "../../runtime/detail/spin_mutex.hpp"
#include "epoll_driver.hpp"
#include "io_op.hpp"

namespace goro::detail {

// A file whose waits come from another processor this many times in a row,
// while nothing waits on it, moves to that processor's epoll (see
// "Migration" in epoll_driver.hpp).
inline constexpr std::uint8_t k_migrate_after = 4;

// Which FIFO of a registration a request waits in: 0 readable, 1 writable.
inline int direction_of(const io_request& req) noexcept {
    switch (req.op) {
        case io_kind::send:
        case io_kind::sendmsg:
        case io_kind::connect:
        case io_kind::write: return 1;
        default: return 0;
    }
}

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

    void release(int fd) noexcept override;
};

}  // namespace goro::detail
