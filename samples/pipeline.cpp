// pipeline — fan-out / fan-in with cancellation (Go blog: "Go Concurrency
// Patterns: Pipelines and cancellation", rewritten with goro).
//
// A generator emits 1..N; four square() workers read from the same channel
// (fan-out) and send into one results channel (fan-in, closed once every
// worker is done, tracked with a wait_group). The consumer stops after it has
// seen enough and cancels the context: every stage is parked in a select on
// ctx.done() and exits, so nothing leaks or blocks.
//
// Build: ninja -C build samples/pipeline     Run: ./build/samples/pipeline
#include <cstdio>
#include <optional>

#include <goro/goro.hpp>

namespace {

// Stage 1: emits 1..n on `out`, stopping early when ctx is done.
goro::task<> generate(goro::context ctx, int n, goro::chan<int> out) {
    for (int i = 1; i <= n; ++i) {
        const int chosen = co_await goro::select(out.send_case(i), ctx.done().recv_case());
        if (chosen == 1) break;  // cancelled
    }
    out.close();
}

// Stage 2 (fan-out): squares what it reads until `in` is closed or ctx is done.
goro::task<> square(goro::context ctx, int id, goro::chan<int> in, goro::chan<long> out, goro::wait_group& wg) {
    int handled = 0;
    for (;;) {
        std::optional<int> v;
        const int chosen = co_await goro::select(in.recv_case([&](std::optional<int> x) { v = x; }),
                                                 ctx.done().recv_case());
        if (chosen == 1 || !v) break;
        if (co_await goro::select(out.send_case(long{*v} * *v), ctx.done().recv_case()) == 1) break;
        ++handled;
    }
    std::printf("worker %d handled %d values\n", id, handled);
    wg.done();
}

// Stage 3 (fan-in): closes `out` once every worker has finished.
goro::task<> close_when_done(goro::wait_group& wg, goro::chan<long> out) {
    co_await wg.wait();
    out.close();
}

goro::task<int> main_task() {
    auto [ctx, cancel] = goro::with_cancel(goro::background());
    goro::chan<int> numbers;
    goro::chan<long> squares;
    goro::wait_group wg;

    goro::go(generate(ctx, 1'000'000, numbers));
    constexpr int k_workers = 4;
    wg.add(k_workers);
    for (int i = 0; i < k_workers; ++i) goro::go(square(ctx, i, numbers, squares, wg));
    auto closer = goro::spawn(close_when_done(wg, squares));

    // Take the first 1000 squares, then tell everybody to stop.
    long sum = 0;
    int taken = 0;
    while (taken < 1000) {
        auto v = co_await squares.recv();
        if (!v) break;
        sum += *v;
        ++taken;
    }
    cancel();
    co_await std::move(closer);  // every worker saw the cancellation and exited
    while (co_await squares.recv()) {
    }  // drain (closed: returns at once)

    std::printf("took %d squares, sum %ld, ctx.err() = %s\n", taken, sum, ctx.err().message().c_str());
    co_return 0;
}

}  // namespace

int main() { return goro::run(main_task()); }
