// Hand-off with I/O in flight (runtime/handoff.cpp): the operations of a
// processor handed off to a spare thread move with it, deadlines included,
// and every byte arrives once, in order; an operation that cannot move
// completes when its old thread returns; shutdown while a thread is still
// lost. Every scenario runs on both drivers, each in a child process (a hang
// is a failure); io_uring moves the processor's operations to a new ring
// (io/detail/poller.hpp, "Hand-off"). The hand-off itself: handoff_test.cpp.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <goro/goro.hpp>

#include "support/each_driver.hpp"
#include "support/temp_dir.hpp"

using namespace std::chrono_literals;
using goro::task;
using goro_test::on_each_driver_in_child;
using goro_test::one_proc;

// ---- I/O in flight moves with the processor ----
//
// On io_uring these are the re-submission path (io/detail/poller.hpp,
// "Hand-off"): the new thread starts the processor's socket operations
// again on a ring of its own, and the old thread, back from its task,
// cancels them on the old one before its deferred work can run them.

namespace {

// The byte at position i of stream `seed`: a pattern that shows a byte lost,
// doubled or out of order.
char pattern(std::size_t i, unsigned seed) { return static_cast<char>((i * 31 + seed * 7 + i / 997) % 251); }

// How the stuck tasks below hold their thread: asleep in the kernel (an
// unwrapped blocking call) between looks at what they wait for. The monitor
// takes a processor only from a thread that is really stuck, computing or
// asleep in a system call, not from one waiting for a CPU; a spinning
// thread on a loaded machine may look like the latter for a long time.
void nap() { ::usleep(100); }

// Blocking raw helpers for the peer threads (outside the runtime).
bool send_all_raw(int fd, const char* p, std::size_t n) {
    while (n > 0) {
        const ssize_t k = ::send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return false;
        p += k;
        n -= static_cast<std::size_t>(k);
    }
    return true;
}

// Reads exactly n bytes and checks them against pattern(·, seed).
bool recv_pattern_raw(int fd, std::size_t n, unsigned seed) {
    std::vector<char> buf(65536);
    std::size_t at = 0;
    while (at < n) {
        const ssize_t k = ::recv(fd, buf.data(), std::min(buf.size(), n - at), 0);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return false;
        for (ssize_t i = 0; i < k; ++i)
            if (buf[static_cast<std::size_t>(i)] != pattern(at + static_cast<std::size_t>(i), seed)) return false;
        at += static_cast<std::size_t>(k);
    }
    return true;
}

int connect_raw(std::uint16_t port, bool nonblocking = false) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    const int r = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    if (r != 0 && !(nonblocking && errno == EINPROGRESS)) {
        ::close(fd);
        return -1;
    }
    return fd;
}

// Accepts one connection on a listener that may be non-blocking.
int accept_raw(int listener) {
    for (;;) {
        const int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd >= 0) {
            const int flags = ::fcntl(fd, F_GETFL);
            ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
            return fd;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return -1;
        pollfd p{listener, POLLIN, 0};
        ::poll(&p, 1, 100);
    }
}

std::uint16_t port_of(const goro::net::tcp_listener& l) {
    sockaddr_in a{};
    socklen_t len = sizeof a;
    ::getsockname(l.native_handle(), reinterpret_cast<sockaddr*>(&a), &len);
    return ntohs(a.sin_port);
}

goro::net::deadline_point in_20s() { return goro::net::deadline_clock::now() + 20s; }

// Reads `n` bytes in pieces and checks them against pattern(·, seed); adds
// each piece to *progress.
task<int> read_pattern(goro::net::tcp_stream* s, std::size_t n, unsigned seed, std::atomic<std::size_t>* progress,
                       std::size_t piece = 32768) {
    std::vector<char> buf(piece);
    std::size_t at = 0;
    while (at < n) {
        auto r = co_await s->read(buf.data(), std::min(buf.size(), n - at));
        if (!r || *r == 0) co_return 1;
        for (std::size_t i = 0; i < *r; ++i)
            if (buf[i] != pattern(at + i, seed)) co_return 2;
        at += *r;
        progress->fetch_add(*r, std::memory_order_acq_rel);
    }
    co_return 0;
}

task<int> write_pattern(goro::net::tcp_stream* s, std::size_t n, unsigned seed) {
    std::string data(n, '\0');
    for (std::size_t i = 0; i < n; ++i) data[i] = pattern(i, seed);
    auto w = co_await s->write_all(data);
    co_return w ? 0 : 1;
}

// The stuck task: spins until `done` tasks are done (only a hand-off can
// run them: their operations are in flight on this processor), or gives up.
task<int> hog_until(std::atomic<int>* done, int want) {
    const auto give_up = std::chrono::steady_clock::now() + 20s;
    while (done->load(std::memory_order_acquire) < want) {
        if (std::chrono::steady_clock::now() > give_up) co_return 1;
        nap();
    }
    co_return 0;
}

template <typename T>
task<void> then_count(task<T> t, T* out, std::atomic<int>* done) {
    *out = co_await std::move(t);
    done->fetch_add(1, std::memory_order_acq_rel);
}

constexpr std::size_t k_read_bytes = 1 << 20;
constexpr std::size_t k_write_bytes = 8 << 20;

// A recv, a send on a full socket buffer, an accept and a connect in
// progress, all with deadlines, in flight on the one processor when a task
// gets stuck; a peer thread feeds and drains them while it is stuck.
task<int> moves_sockets_main() {
    goro::net::listen_options lo;
    auto l1 = goro::net::tcp_listener::listen("127.0.0.1:0", lo);
    lo.backlog = 0;  // one queued connection: the next SYN is dropped
    auto l2 = goro::net::tcp_listener::listen("127.0.0.1:0", lo);
    if (!l1 || !l2) co_return 30;
    const std::uint16_t p1 = port_of(*l1);
    const std::uint16_t p2 = port_of(*l2);
    // Two streams to feed and drain: accepted from l1.
    const int rd_peer = connect_raw(p1);
    auto rd = co_await l1->accept();
    const int wr_peer = connect_raw(p1);
    auto wr = co_await l1->accept();
    if (!rd || !wr || rd_peer < 0 || wr_peer < 0) co_return 31;
    // l2's queue is full: a connect to it waits for a SYN retransmit.
    const int filler = connect_raw(p2);
    if (filler < 0) co_return 32;
    rd->set_read_deadline(in_20s());
    wr->set_write_deadline(in_20s());

    std::atomic<int> done{0};
    std::atomic<std::size_t> progress{0};
    int read_rc = -1, write_rc = -1;
    std::optional<goro::net::tcp_stream> accepted, dialed;
    auto accept_task = [](goro::net::tcp_listener* l, std::optional<goro::net::tcp_stream>* out,
                          std::atomic<int>* d) -> task<void> {
        auto c = co_await l->accept();
        if (c) out->emplace(std::move(*c));
        d->fetch_add(1, std::memory_order_acq_rel);
    };
    auto dial_task = [](std::uint16_t port, std::optional<goro::net::tcp_stream>* out,
                        std::atomic<int>* d) -> task<void> {
        auto addr = goro::net::address::parse("127.0.0.1:" + std::to_string(port));
        if (addr) {
            auto c = co_await goro::net::tcp_stream::connect(*addr, 20s);
            if (c) out->emplace(std::move(*c));
        }
        d->fetch_add(1, std::memory_order_acq_rel);
    };
    goro::go(then_count(read_pattern(&*rd, k_read_bytes, 1, &progress), &read_rc, &done));
    goro::go(then_count(write_pattern(&*wr, k_write_bytes, 2), &write_rc, &done));
    goro::go(accept_task(&*l1, &accepted, &done));
    goro::go(dial_task(p2, &dialed, &done));
    co_await goro::sleep(5ms);  // all four are waiting on this processor's netpoll

    std::atomic<bool> peer_ok{false};
    std::thread peer([&] {
        std::this_thread::sleep_for(20ms);  // the hand-off first, usually
        // Make room in l2's queue: the dialer's SYN gets in at its first
        // retransmit.
        const int q1 = accept_raw(l2->native_handle());
        bool ok = true;
        // Feed the reader in pieces.
        std::string chunk;
        for (std::size_t at = 0; at < k_read_bytes && ok; at += chunk.size()) {
            chunk.resize(std::min<std::size_t>(4096, k_read_bytes - at));
            for (std::size_t i = 0; i < chunk.size(); ++i) chunk[i] = pattern(at + i, 1);
            ok = send_all_raw(rd_peer, chunk.data(), chunk.size());
        }
        ok = ok && recv_pattern_raw(wr_peer, k_write_bytes, 2);  // drain the writer
        const int c = connect_raw(p1);                  // the acceptor's connection
        const int q2 = accept_raw(l2->native_handle());  // the dialer's
        ok = ok && c >= 0 && q1 >= 0 && q2 >= 0;
        peer_ok.store(ok);
        // Kept open until the runtime is done with them.
        std::this_thread::sleep_for(50ms);
        for (int fd : {c, q1, q2})
            if (fd >= 0) ::close(fd);
    });
    const int hog = co_await goro::spawn(hog_until(&done, 4));
    peer.join();
    ::close(rd_peer);
    ::close(wr_peer);
    ::close(filler);
    if (hog != 0) co_return 40;
    if (read_rc != 0) co_return 41;
    if (write_rc != 0) co_return 42;
    if (!accepted) co_return 43;
    if (!dialed) co_return 44;
    if (!peer_ok.load()) co_return 45;
    if (progress.load() != k_read_bytes) co_return 46;
    if (goro::metrics().handoffs == 0) co_return 47;
    co_return 0;
}

}  // namespace

TEST_CASE("handoff: reads, writes, an accept and a connect in flight move with deadlines; every byte once",
          "[handoff][io]") {
    on_each_driver_in_child(
        [](const char* netpoll) { return goro::run(moves_sockets_main(), one_proc(netpoll)); }, 60s);
}

namespace {

// Round after round: a reader waits on a socket, a task gets stuck until
// the reader has its byte (sent by the stuck task itself): each round needs
// a hand-off that moves the read.
task<int> handoffs_with_io_main(int rounds) {
    auto pair = goro::net::unix_stream::pair();
    if (!pair) co_return 30;
    std::pair<goro::net::unix_stream, goro::net::unix_stream> ends = std::move(*pair);
    const int raw = ends.second.native_handle();
    for (int i = 0; i < rounds; ++i) {
        std::atomic<int> got{-1};
        auto reader = [](goro::net::unix_stream* s, std::atomic<int>* out) -> task<void> {
            char c = 0;
            auto r = co_await s->read_exact(&c, 1);
            out->store(r ? static_cast<unsigned char>(c) : 1000, std::memory_order_release);
        };
        auto stuck = [](int fd, char c, std::atomic<int>* seen) -> task<int> {
            if (::send(fd, &c, 1, MSG_NOSIGNAL) != 1) co_return 1;
            while (seen->load(std::memory_order_acquire) < 0) nap();
            co_return 0;
        };
        auto h = goro::spawn(reader(&ends.first, &got));
        co_await goro::yield();  // the read is in flight
        const int rc = co_await goro::spawn(stuck(raw, static_cast<char>(i & 0x7f), &got));
        co_await std::move(h);
        if (rc != 0) co_return 31;
        if (got.load() != (i & 0x7f)) co_return 32;
    }
    // The monitor counts a hand-off just after the new thread may have run
    // the round to its end: give the count a moment to catch up.
    for (int i = 0; i < 5000 && goro::metrics().handoffs < static_cast<std::uint64_t>(rounds); ++i)
        co_await goro::sleep(1ms);
    if (goro::metrics().handoffs < static_cast<std::uint64_t>(rounds)) co_return 33;
    co_return 0;
}

// The stuck task returns while data is arriving for reads that moved away
// from its old ring: each round, the readers wait on empty sockets, a task
// gets stuck until a hand-off has moved their reads, then sends each of
// them a burst (waking their stale waits on its old ring too) and returns
// at once, while the bursts are still being read in small pieces. Its old
// thread must cancel those stale reads before its deferred work runs them,
// or they take bytes from the streams.
constexpr unsigned k_streams = 4;
constexpr int k_bursts = 40;
constexpr std::size_t k_burst = 64 << 10;
constexpr std::size_t k_stream_bytes = k_burst * k_bursts;

task<int> returns_while_data_arrives_main() {
    goro::net::listen_options lo;
    auto l = goro::net::tcp_listener::listen("127.0.0.1:0", lo);
    if (!l) co_return 30;
    const std::uint16_t port = port_of(*l);
    std::vector<int> peers;
    std::vector<goro::net::tcp_stream> streams;
    for (unsigned i = 0; i < k_streams; ++i) {
        peers.push_back(connect_raw(port));
        auto s = co_await l->accept();
        if (!s || peers.back() < 0) co_return 31;
        streams.push_back(std::move(*s));
    }
    std::atomic<int> done{0};
    std::atomic<std::size_t> progress{0};
    std::vector<int> rcs(k_streams, -1);
    for (unsigned i = 0; i < k_streams; ++i)
        goro::go(then_count(read_pattern(&streams[i], k_stream_bytes, i + 10, &progress, 1024), &rcs[i], &done));
    auto stuck = [](const std::vector<int>* fds, int burst) -> task<int> {
        // Until a hand-off (the readers' waits are what it moves).
        const std::uint64_t before = goro::metrics().handoffs;
        const auto give_up = std::chrono::steady_clock::now() + 20s;
        while (goro::metrics().handoffs == before) {
            if (std::chrono::steady_clock::now() > give_up) co_return 1;
            nap();
        }
        std::string chunk(k_burst, '\0');
        for (unsigned i = 0; i < fds->size(); ++i) {
            const std::size_t at = static_cast<std::size_t>(burst) * k_burst;
            for (std::size_t j = 0; j < chunk.size(); ++j) chunk[j] = pattern(at + j, i + 10);
            if (!send_all_raw((*fds)[i], chunk.data(), chunk.size())) co_return 2;
        }
        co_return 0;  // at once: the bursts are still being read
    };
    int stuck_failures = 0;
    for (int burst = 0; burst < k_bursts; ++burst) {
        co_await goro::sleep(1ms);  // the readers wait on empty sockets
        stuck_failures += co_await goro::spawn(stuck(&peers, burst));
        const std::size_t want = static_cast<std::size_t>(burst + 1) * k_burst * k_streams;
        const auto give_up = std::chrono::steady_clock::now() + 20s;
        while (progress.load() < want && done.load() == 0 && std::chrono::steady_clock::now() < give_up)
            co_await goro::sleep(1ms);
        if (progress.load() != want) break;
    }
    for (int fd : peers) ::shutdown(fd, SHUT_WR);  // a reader that lost bytes sees EOF, not a hang
    while (done.load() < static_cast<int>(k_streams)) co_await goro::sleep(1ms);
    for (int fd : peers) ::close(fd);
    if (stuck_failures != 0) co_return 40;
    for (unsigned i = 0; i < k_streams; ++i)
        if (rcs[i] != 0) co_return 41 + static_cast<int>(i);
    if (progress.load() != k_stream_bytes * k_streams) co_return 50;
    co_return 0;
}

// A FIFO's open waits in a kernel worker for a writer: an operation that
// cannot move (io_uring), left on the old ring. `writer_in_stuck`: the stuck
// task lets a writer in before it returns, and the open must then complete
// (delivered by its old thread); otherwise main returns while the stuck task
// still holds its thread, and shutdown must cancel the open and end.
task<int> left_behind_main(std::string fifo, bool writer_in_stuck) {
    const bool uring = std::string_view(goro::netpoller()) == "io_uring";
    auto pair = goro::net::unix_stream::pair();
    if (!pair) co_return 30;
    std::pair<goro::net::unix_stream, goro::net::unix_stream> ends = std::move(*pair);
    std::atomic<int> opened{0};  // 1: opened, 2: failed
    auto opener = [](std::string path, std::atomic<int>* out) -> task<void> {
        auto f = co_await goro::fs::file::open(path, O_RDONLY);
        out->store(f ? 1 : 2, std::memory_order_release);
    };
    std::atomic<int> read_done{0};
    auto reader = [](goro::net::unix_stream* s, std::atomic<int>* d) -> task<void> {
        char c = 0;
        auto r = co_await s->read_exact(&c, 1);
        d->store(r && c == 'r' ? 1 : 2, std::memory_order_release);
    };
    // epoll opens on the blocking pool, which shutdown waits for: no FIFO there.
    if (uring) goro::go(opener(fifo, &opened));
    goro::go(reader(&ends.first, &read_done));
    co_await goro::sleep(5ms);  // both wait on this processor
    std::atomic<bool> release{false};
    std::atomic<bool> sent{false};
    auto stuck = [](std::string path, bool let_writer_in, bool fifo_used, int raw, std::atomic<bool>* rel,
                    std::atomic<int>* rd, std::atomic<bool>* sent_flag) -> task<void> {
        // Until the read went through a hand-off (then the processor is
        // someone else's, and the open is on this thread's old ring).
        const bool ok = ::send(raw, "r", 1, MSG_NOSIGNAL) == 1;
        // release: main closes `raw` after it sees this (the byte's arrival
        // orders the two in the kernel, not for TSan).
        sent_flag->store(true, std::memory_order_release);
        if (!ok) co_return;
        while (rd->load(std::memory_order_acquire) == 0) nap();
        int w = -1;
        if (let_writer_in && fifo_used) {
            // A writer (its non-blocking open fails with ENXIO until the
            // opener holds a reader's descriptor) lets the open finish, on
            // this thread's old ring, which nobody drives until we return.
            // Kept open until then: the open in the kernel worker must see it.
            while ((w = ::open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC)) < 0 && errno == ENXIO)
                std::this_thread::sleep_for(1ms);
        }
        while (!rel->load(std::memory_order_acquire)) nap();
        std::this_thread::sleep_for(50ms);  // main may be gone by now
        if (w >= 0) ::close(w);
    };
    goro::go(stuck(fifo, writer_in_stuck, uring, ends.second.native_handle(), &release, &read_done, &sent));
    while (read_done.load() == 0 || !sent.load(std::memory_order_acquire)) co_await goro::sleep(1ms);
    if (read_done.load() != 1) co_return 31;
    if (goro::metrics().handoffs == 0) co_return 32;
    release.store(true);
    if (!writer_in_stuck) co_return 0;  // shutdown with the stuck thread still lost
    if (uring) {
        while (opened.load() == 0) co_await goro::sleep(1ms);
        if (opened.load() != 1) co_return 33;
    }
    co_return 0;
}

}  // namespace

TEST_CASE("handoff: two thousand hand-offs in a row, each with a read in flight", "[handoff][io]") {
    on_each_driver_in_child(
        [](const char* netpoll) { return goro::run(handoffs_with_io_main(2000), one_proc(netpoll)); }, 120s);
}

TEST_CASE("handoff: a stuck task returns while its moved reads' data is arriving; every byte once, in order",
          "[handoff][io]") {
    on_each_driver_in_child(
        [](const char* netpoll) { return goro::run(returns_while_data_arrives_main(), one_proc(netpoll)); }, 60s);
}

TEST_CASE("handoff: an operation that cannot move completes when its old thread returns", "[handoff][io]") {
    goro_test::temp_dir tmp("goro-handoff");
    on_each_driver_in_child(
        [&](const char* netpoll) {
            const std::string fifo = (tmp.dir / (std::string("fifo-") + netpoll)).string();
            if (::mkfifo(fifo.c_str(), 0600) != 0) return 90;
            return goro::run(left_behind_main(fifo, true), one_proc(netpoll));
        },
        60s);
}

TEST_CASE("handoff: shutdown while a thread is still lost, its old ring holding operations", "[handoff][io]") {
    goro_test::temp_dir tmp("goro-handoff");
    on_each_driver_in_child(
        [&](const char* netpoll) {
            const std::string fifo = (tmp.dir / (std::string("fifo-") + netpoll)).string();
            if (::mkfifo(fifo.c_str(), 0600) != 0) return 90;
            return goro::run(left_behind_main(fifo, false), one_proc(netpoll));
        },
        60s);
}
