// timeouts — select with a timeout, a ticker and a deadline context.
//
// A slow worker answers on a channel after a random delay. The main task
// waits for each answer with a 50 ms timeout (goro::after in a select), while
// a ticker prints a heartbeat every 20 ms; after a 400 ms overall deadline
// (goro::with_timeout) everything stops. Shows goro::after, goro::ticker,
// goro::timer::stop, goro::sleep(d, ctx) and ctx.done() in a select.
//
// Build: ninja -C build samples/timeouts     Run: ./build/samples/timeouts
#include <chrono>
#include <cstdio>
#include <optional>

#include <goro/goro.hpp>

using namespace std::chrono_literals;

namespace {

// Answers request i after (i * 17 % 90) ms, unless ctx ends first.
goro::task<> slow_worker(goro::context ctx, goro::chan<int> requests, goro::chan<int> answers) {
    while (auto req = co_await requests.recv()) {
        const auto delay = std::chrono::milliseconds(*req * 17 % 90);
        if (co_await goro::sleep(delay, ctx)) co_return;  // cancelled or deadline exceeded
        (void)answers.try_send(*req * 10);                 // dropped if a stale answer is still queued
    }
}

goro::task<int> main_task() {
    auto [ctx, cancel] = goro::with_timeout(goro::background(), 400ms);
    goro::chan<int> requests(1), answers(1);
    goro::go(slow_worker(ctx, requests, answers));

    goro::ticker heartbeat(20ms);
    const auto start = std::chrono::steady_clock::now();
    auto ms = [&] {
        return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
    };
    int ok = 0, timed_out = 0, beats = 0;
    for (int i = 1; !ctx.err(); ++i) {
        if (co_await goro::select(requests.send_case(i), ctx.done().recv_case()) == 1) break;
        auto timeout = goro::after(50ms);  // a fresh timeout for each request
        for (bool waiting = true; waiting;) {
            std::optional<int> answer;
            switch (co_await goro::select(answers.recv_case([&](std::optional<int> v) { answer = v; }),
                                          timeout.recv_case(), heartbeat.c().recv_case(), ctx.done().recv_case())) {
                case 0:
                    if (*answer != i * 10) break;  // a late answer to an earlier request: stale
                    std::printf("%4lld ms  request %d -> %d\n", static_cast<long long>(ms()), i, *answer);
                    ++ok;
                    waiting = false;
                    break;
                case 1:
                    std::printf("%4lld ms  request %d timed out\n", static_cast<long long>(ms()), i);
                    ++timed_out;
                    waiting = false;
                    break;
                case 2:
                    ++beats;
                    break;
                default:  // the overall deadline
                    waiting = false;
                    break;
            }
        }
    }
    heartbeat.stop();
    requests.close();
    std::printf("%d answered, %d timed out, %d heartbeats; %s\n", ok, timed_out, beats, ctx.err().message().c_str());
    co_return 0;
}

}  // namespace

int main() { return goro::run(main_task()); }
