// Early hand-off (runtime/sysmon.cpp, "Early hand-off"): a processor whose
// run has lasted a fifth of the time slice is handed off as soon as events
// come that only it can collect (I/O on its netpoll, a timer due), without
// waiting for the slice to end; a run that merely computes keeps its
// processor until the slice ends. The slice here is 4 s (the early
// threshold 800 ms), so a hand-off during these runs, which end well before
// the slice, can only be an early one; metrics count them apart
// (handoffs_early). Each scenario runs on both drivers, in a child process.
#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <utility>

#include <goro/goro.hpp>

#include "support/each_driver.hpp"

using namespace std::chrono_literals;
using goro::task;
using goro_test::netpoll_of;
using goro_test::on_each_driver_in_child;

namespace {

goro::options one_proc_long_slice(const char* netpoll) {
    goro::options o;
    o.procs = 1;
    o.time_slice = 4s;
    o.netpoll = netpoll_of(netpoll);
    return o;
}

// The monitor counts a hand-off just after the new thread may have run the
// scenario to its end: give the count a moment to catch up.
task<std::uint64_t> early_handoffs_seen() {
    for (int i = 0; i < 5000 && goro::metrics().handoffs_early == 0; ++i) co_await goro::sleep(1ms);
    co_return goro::metrics().handoffs_early;
}

// A reader waits on this processor's netpoll; a task that never suspends
// (it naps in a system call, the hog benchmark's sleep case) sends the
// reader its byte and waits for the reader to have it. Only a hand-off lets
// the reader run; the slice is far off, so it must be an early one.
task<int> io_comes_main() {
    auto pair = goro::net::unix_stream::pair();
    if (!pair) co_return 30;
    std::pair<goro::net::unix_stream, goro::net::unix_stream> ends = std::move(*pair);
    std::atomic<int> got{-1};
    auto reader = [](goro::net::unix_stream* s, std::atomic<int>* out) -> task<void> {
        char c = 0;
        auto r = co_await s->read_exact(&c, 1);
        out->store(r ? static_cast<unsigned char>(c) : 1000, std::memory_order_release);
    };
    auto stuck = [](int fd, std::atomic<int>* seen) -> task<int> {
        const char c = 'e';
        if (::send(fd, &c, 1, MSG_NOSIGNAL) != 1) co_return 1;
        while (seen->load(std::memory_order_acquire) < 0) ::usleep(100);
        co_return 0;
    };
    auto h = goro::spawn(reader(&ends.first, &got));
    co_await goro::yield();  // the read is in flight
    const int rc = co_await goro::spawn(stuck(ends.second.native_handle(), &got));
    co_await std::move(h);
    if (rc != 0) co_return 31;
    if (got.load() != 'e') co_return 32;
    if (co_await early_handoffs_seen() == 0) co_return 33;
    co_return 0;
}

// A sleeper's timer is due on this processor while a task computes (a pure
// spin, the hog benchmark's spin case) until the sleeper woke.
task<int> timer_comes_main() {
    std::atomic<bool> woke{false};
    auto sleeper = [](std::atomic<bool>* done) -> task<void> {
        co_await goro::sleep(1ms);
        done->store(true, std::memory_order_release);
    };
    auto h = goro::spawn(sleeper(&woke));
    co_await goro::yield();  // its timer is armed
    auto stuck = [](std::atomic<bool>* done) -> task<void> {
        while (!done->load(std::memory_order_acquire)) {
        }
        co_return;
    };
    co_await goro::spawn(stuck(&woke));
    co_await std::move(h);
    if (co_await early_handoffs_seen() == 0) co_return 33;
    co_return 0;
}

// A read waits (nothing comes for it) and no timer is due: a run of 1.5 s,
// past the early threshold and short of the slice, keeps its processor.
task<int> nothing_comes_main() {
    auto pair = goro::net::unix_stream::pair();
    if (!pair) co_return 30;
    std::pair<goro::net::unix_stream, goro::net::unix_stream> ends = std::move(*pair);
    auto reader = [](goro::net::unix_stream* s) -> task<void> {
        char c = 0;
        (void)co_await s->read_exact(&c, 1);
    };
    auto r = goro::spawn(reader(&ends.first));
    // Parks the processor: the netpoll's ready list (epoll's first write
    // edges) is emptied, so nothing is pending when the run below starts.
    co_await goro::sleep(5ms);
    auto compute = []() -> task<void> {
        const auto until = std::chrono::steady_clock::now() + 1500ms;
        while (std::chrono::steady_clock::now() < until) {
        }
        co_return;
    };
    co_await goro::spawn(compute());
    const bool handed_off = goro::metrics().handoffs != 0;
    (void)ends.second.close();  // the reader ends (it reads from ends.first: joined before the pair goes)
    co_await std::move(r);
    co_return handed_off ? 40 : 0;
}

}  // namespace

TEST_CASE("early handoff: I/O that comes for a stuck processor moves it before the slice ends", "[handoff][io]") {
    on_each_driver_in_child([](const char* netpoll) { return goro::run(io_comes_main(), one_proc_long_slice(netpoll)); });
}

TEST_CASE("early handoff: a timer due on a stuck processor moves it before the slice ends", "[handoff]") {
    on_each_driver_in_child(
        [](const char* netpoll) { return goro::run(timer_comes_main(), one_proc_long_slice(netpoll)); });
}

TEST_CASE("early handoff: a run that only computes keeps its processor until the slice", "[handoff]") {
    on_each_driver_in_child(
        [](const char* netpoll) { return goro::run(nothing_comes_main(), one_proc_long_slice(netpoll)); });
}
