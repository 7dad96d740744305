// pingpong: two tasks bounce an int over two unbuffered channels, 1,000,000
// round trips (ping -> pong -> back). Twin of peers/go/pingpong/main.go.
// Measures the channel hand-off: a send to a parked receiver moves the value
// into the receiver's frame and makes it run next on the same processor.
//
// Prints: pingpong <ns per round trip, median of 3 timed runs after 1 warm-up> ns/op
// Processors: GORO_MAXPROCS (default: usable CPUs).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <goro/goro.hpp>

#include "bench_util.hpp"

namespace {

constexpr int k_trips = 1'000'000;

goro::task<> ponger(goro::chan<int> ping, goro::chan<int> pong) {
    for (int i = 0; i < k_trips; ++i) {
        auto v = co_await ping.recv();
        co_await pong.send(*v + 1);
    }
}

goro::task<int> pinger(goro::chan<int> ping, goro::chan<int> pong) {
    int v = 0;
    for (int i = 0; i < k_trips; ++i) {
        co_await ping.send(v);
        v = *co_await pong.recv();
    }
    co_return v;
}

goro::task<double> once() {
    goro::chan<int> ping, pong;
    const auto start = std::chrono::steady_clock::now();
    auto a = goro::spawn(ponger(ping, pong));
    auto b = goro::spawn(pinger(ping, pong));
    co_await std::move(a);
    const int last = co_await std::move(b);
    const auto el = std::chrono::steady_clock::now() - start;
    if (last != k_trips) {
        std::fprintf(stderr, "pingpong: final value %d, want %d\n", last, k_trips);
        std::exit(1);
    }
    co_return std::chrono::duration<double, std::nano>(el).count() / k_trips;
}

goro::task<double> timed_median() { return bench::median_after_warmup(once, 3); }

}  // namespace

int main() {
    const double ns = goro::run(timed_median());
    std::printf("pingpong %.2f ns/op\n", ns);
}
