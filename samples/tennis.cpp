// tennis — two players hit a ball back and forth over an unbuffered channel
// (the "Go in Action" tennis program, chapter 6). A player who misses loses;
// the winner sees the court channel closed.
//
// Shows: an unbuffered channel as a rendezvous (each hit hands the ball to
// the other player), close() as a signal, recv() returning nullopt when closed,
// and goro::wait_group.
//
// Run: build-dir/samples/tennis            (GORO_MAXPROCS=1 or 2 both work)
#include <cstdio>
#include <random>
#include <string>

#include <goro/goro.hpp>

namespace {

goro::task<> player(std::string name, goro::chan<int> court, goro::wait_group& wg, unsigned seed) {
    std::minstd_rand rng(seed);
    for (;;) {
        // Wait for the ball to be hit to us.
        std::optional<int> ball = co_await court.recv();
        if (!ball) {  // the channel was closed: the other player missed
            std::printf("Player %s Won\n", name.c_str());
            break;
        }
        if (rng() % 100 < 13) {  // we miss: close the court
            std::printf("Player %s Missed\n", name.c_str());
            court.close();
            break;
        }
        std::printf("Player %s Hit %d\n", name.c_str(), *ball);
        co_await court.send(*ball + 1);  // hit the ball back
    }
    wg.done();
}

goro::task<int> main_task() {
    goro::chan<int> court;  // unbuffered
    goro::wait_group wg;
    wg.add(2);
    std::random_device rd;
    goro::go(player("Nadal", court, wg, rd()));
    goro::go(player("Djokovic", court, wg, rd()));
    co_await court.send(1);  // serve
    co_await wg.wait();
    co_return 0;
}

}  // namespace

int main() { return goro::run(main_task()); }
