// relay — a 4 x 100 m relay race over an unbuffered channel (the "Go in
// Action" relay program, chapter 6): each runner waits for the baton, runs
// its leg, and hands the baton to the next runner, who was started and is
// already waiting at the exchange zone.
//
// Shows: an unbuffered channel passing ownership of a value (the baton)
// from one task to the next — every hand-off is a rendezvous.
//
// Run: build-dir/samples/relay
#include <chrono>
#include <cstdio>

#include <goro/goro.hpp>

using namespace std::chrono_literals;

namespace {

goro::task<> runner(goro::chan<int> baton, goro::chan<int> finished) {
    const int me = *co_await baton.recv();  // wait for the baton
    std::printf("Runner %d Running With Baton\n", me);
    int next = 0;
    if (me != 4) {
        next = me + 1;
        std::printf("Runner %d To The Line\n", next);
        goro::go(runner(baton, finished));  // the next runner waits at the line
    }
    co_await goro::sleep(100ms);  // run the leg
    if (me == 4) {
        std::printf("Runner %d Finished, Race Over\n", me);
        co_await finished.send(me);
        co_return;
    }
    std::printf("Runner %d Exchange With Runner %d\n", me, next);
    co_await baton.send(next);
}

goro::task<int> main_task() {
    goro::chan<int> baton;     // unbuffered: every exchange is a rendezvous
    goro::chan<int> finished;  // the last runner reports here
    std::printf("Runner 1 To The Line\n");
    goro::go(runner(baton, finished));
    const auto start = std::chrono::steady_clock::now();
    co_await baton.send(1);  // start the race
    co_await finished.recv();
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    std::printf("Race time: %lld ms\n", static_cast<long long>(ms.count()));
    co_return 0;
}

}  // namespace

int main() { return goro::run(main_task()); }
