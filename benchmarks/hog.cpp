// hog: how long the connections of an echo server stall while one task holds
// a processor without suspending (issue 10). Twin: peers/go/hog.
//
// The server runs on 2 processors (fixed: options::procs = 2, whatever
// GORO_MAXPROCS says) with one task per connection echoing what it reads
// (4 KiB buffer). A client process (forked before goro starts; plain C++
// over epoll and a 1 ms timerfd, no goro) opens 32 connections and, for
// 4 s, sends 64 bytes on every connection at each 1 ms tick unless that
// connection's previous round trip is still waiting for its echo, and times
// each round trip. One second after the 32 connections are accepted the
// server starts a hog task, in two runs (each with a server and a client
// of its own):
//   spin:  computes for 2 s without suspending;
//   sleep: calls ::usleep(2 s) directly (not through goro::blocking).
// goro has no pre-emption: the monitor hands the hog's processor (the
// connections' tasks, timers and I/O sitting there) to a spare thread after
// a time slice (runtime/handoff.cpp); before hand-off they waited about
// 2 s. GORO_DEBUG=handoff=0 shows that again.
//
// Prints, for <run> in spin, sleep (from the client's measurements):
//   hog_<run>_rtt_p50 <ms> ms, hog_<run>_rtt_p99 <ms> ms,
//   hog_<run>_rtt_max <ms> ms, hog_<run>_over_100ms <round trips> count
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "bench_util.hpp"

using namespace std::chrono_literals;

namespace {

constexpr int k_conns = 32;
constexpr std::size_t k_msg = 64;
constexpr auto k_client_run = 4s;
constexpr auto k_hog_delay = 1s;
constexpr auto k_hog_length = 2s;

using clock_type = std::chrono::steady_clock;

double ms_between(clock_type::time_point a, clock_type::time_point b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
}

// ---- the client process ----

struct client_conn {
    int fd = -1;
    bool waiting = false;  // a round trip is out
    std::size_t got = 0;   // bytes of its echo received so far
    clock_type::time_point sent;
};

[[noreturn]] void client_process(int control, const char* run) {
    std::uint16_t port = 0;
    if (::read(control, &port, sizeof port) != sizeof port) ::_exit(1);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const int ep = ::epoll_create1(EPOLL_CLOEXEC);
    std::vector<client_conn> conns(k_conns);
    for (int i = 0; i < k_conns; ++i) {
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
            std::perror("hog client: connect");
            ::_exit(1);
        }
        const int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // as Go's default
        ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u32 = static_cast<std::uint32_t>(i);
        ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
        conns[i].fd = fd;
    }
    // The 1 ms ticks: a periodic timerfd in the same epoll (marked k_conns).
    const int tick = ::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    itimerspec every_ms{};
    every_ms.it_interval.tv_nsec = 1'000'000;
    every_ms.it_value.tv_nsec = 1'000'000;
    epoll_event tick_ev{};
    tick_ev.events = EPOLLIN;
    tick_ev.data.u32 = k_conns;
    if (tick < 0 || ::timerfd_settime(tick, 0, &every_ms, nullptr) != 0 ||
        ::epoll_ctl(ep, EPOLL_CTL_ADD, tick, &tick_ev) != 0) {
        std::perror("hog client: timerfd");
        ::_exit(1);
    }
    char msg[k_msg];
    std::memset(msg, 'h', sizeof msg);
    auto send_idle = [&] {
        for (auto& c : conns) {
            if (c.waiting) continue;
            if (::write(c.fd, msg, k_msg) != static_cast<ssize_t>(k_msg)) {
                std::perror("hog client: write");
                ::_exit(1);
            }
            c.waiting = true;
            c.got = 0;
            c.sent = clock_type::now();
        }
    };
    std::vector<double> rtts;
    rtts.reserve(200'000);
    const auto end = clock_type::now() + k_client_run;
    send_idle();
    for (;;) {
        const auto now = clock_type::now();
        bool any_waiting = false;
        for (const auto& c : conns) any_waiting = any_waiting || c.waiting;
        // Past the end: stop sending, wait (at most 10 s) for the echoes out.
        if (now >= end && (!any_waiting || now >= end + 10s)) break;
        epoll_event events[k_conns + 1];
        const int n = ::epoll_wait(ep, events, k_conns + 1, 100);
        for (int e = 0; e < n; ++e) {
            if (events[e].data.u32 == k_conns) {
                std::uint64_t expirations = 0;
                [[maybe_unused]] const ssize_t r = ::read(tick, &expirations, sizeof expirations);
                if (clock_type::now() < end) send_idle();  // missed ticks are not caught up
                continue;
            }
            client_conn& c = conns[events[e].data.u32];
            char buf[4096];
            const ssize_t r = ::read(c.fd, buf, sizeof buf);
            if (r <= 0) {
                if (r < 0 && errno == EAGAIN) continue;
                std::fprintf(stderr, "hog client: the server closed a connection\n");
                ::_exit(1);
            }
            c.got += static_cast<std::size_t>(r);
            if (c.waiting && c.got >= k_msg) {
                rtts.push_back(ms_between(c.sent, clock_type::now()));
                c.waiting = false;
            }
        }
    }
    ::close(tick);
    for (auto& c : conns) ::close(c.fd);  // the server's tasks see EOF and end
    if (rtts.empty()) {
        std::fprintf(stderr, "hog client: no round trip completed\n");
        ::_exit(1);
    }
    std::sort(rtts.begin(), rtts.end());
    auto pct = [&](double q) { return rtts[std::min(rtts.size() - 1, static_cast<std::size_t>(q * rtts.size()))]; };
    const auto over = std::count_if(rtts.begin(), rtts.end(), [](double v) { return v > 100.0; });
    bench::figure(fmt::format("hog_{}_rtt_p50", run).c_str(), pct(0.50), "ms");
    bench::figure(fmt::format("hog_{}_rtt_p99", run).c_str(), pct(0.99), "ms");
    bench::figure(fmt::format("hog_{}_rtt_max", run).c_str(), rtts.back(), "ms");
    bench::figure(fmt::format("hog_{}_over_100ms", run).c_str(), static_cast<double>(over), "count");
    std::fflush(stdout);
    ::_exit(0);
}

// ---- the server: goro ----

goro::task<> echo(goro::net::tcp_stream c, goro::wait_group* wg) {
    char buf[4096];
    for (;;) {
        auto n = co_await c.read(buf, sizeof buf);
        if (!n || *n == 0) break;
        auto w = co_await c.write_all(buf, *n);
        if (!w) break;
    }
    (void)c.close();
    wg->done();
}

goro::task<> spin_hog() {
    const auto until = clock_type::now() + k_hog_length;
    while (clock_type::now() < until) {
    }
    co_return;
}

goro::task<> sleep_hog() {
    ::usleep(static_cast<useconds_t>(std::chrono::duration_cast<std::chrono::microseconds>(k_hog_length).count()));
    co_return;
}

goro::task<int> server(int control, bool spin) {
    auto l = goro::net::tcp_listener::listen("127.0.0.1:0");
    if (!l) bench::fail(fmt::format("hog: listen: {}", l.error().message()));
    const std::uint16_t port = l->local_address().value().port();
    if (::write(control, &port, sizeof port) != sizeof port) bench::fail("hog: control pipe");
    goro::wait_group wg;
    for (int i = 0; i < k_conns; ++i) {
        auto s = co_await l->accept();
        if (!s) bench::fail(fmt::format("hog: accept: {}", s.error().message()));
        wg.add(1);
        goro::go(echo(std::move(*s), &wg));
    }
    co_await goro::sleep(k_hog_delay);
    auto hog = goro::spawn(spin ? spin_hog() : sleep_hog());
    co_await std::move(hog);
    co_await wg.wait();  // until the client has closed every connection
    co_return 0;
}

void one_run(bool spin) {
    int control[2];
    if (::pipe2(control, O_CLOEXEC) != 0) bench::fail("hog: pipe");
    std::fflush(stdout);
    const pid_t child = ::fork();
    if (child < 0) bench::fail("hog: fork");
    if (child == 0) {
        ::close(control[1]);
        client_process(control[0], spin ? "spin" : "sleep");
    }
    ::close(control[0]);
    goro::run(server(control[1], spin), {.procs = 2});
    ::close(control[1]);
    int status = 0;
    ::waitpid(child, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) bench::fail("hog: the client process failed");
}

}  // namespace

int main() {
    one_run(true);
    one_run(false);
    return 0;
}
