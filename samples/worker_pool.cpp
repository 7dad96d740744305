// worker_pool — a fixed pool of workers draining a buffered channel of jobs
// (the "Go in Action" pooled-tasks program, chapter 6): the main task queues
// every job, closes the channel, and waits on a wait_group; each worker loops
// `while (auto job = co_await jobs.recv())` until the channel is closed and
// drained, then calls done().
//
// Shows: a buffered channel as a work queue, ranging over a channel until
// close, results collected on a second channel, goro::wait_group.
//
// Run: build-dir/samples/worker_pool [workers=4] [jobs=20]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <goro/goro.hpp>

using namespace std::chrono_literals;

namespace {

struct result {
    int worker;
    int job;
    long value;
};

long collatz_steps(long n) {
    long steps = 0;
    while (n != 1) {
        n = n % 2 ? 3 * n + 1 : n / 2;
        ++steps;
    }
    return steps;
}

goro::task<> worker(int id, goro::chan<int> jobs, goro::chan<result> results, goro::wait_group& wg) {
    while (auto job = co_await jobs.recv()) {  // ends when jobs is closed and drained
        std::printf("  worker %d: started job %d\n", id, *job);
        co_await goro::sleep(std::chrono::milliseconds(5 + *job % 7));  // pretend to wait on I/O
        co_await results.send(result{id, *job, collatz_steps(*job + 1000)});
    }
    std::printf("  worker %d: shutting down\n", id);
    wg.done();
}

goro::task<int> main_task(int workers, int njobs) {
    goro::chan<int> jobs(static_cast<std::size_t>(njobs));       // buffered: queuing never blocks
    goro::chan<result> results(static_cast<std::size_t>(njobs));
    goro::wait_group wg;
    wg.add(workers);
    for (int w = 1; w <= workers; ++w) goro::go(worker(w, jobs, results, wg));
    for (int j = 1; j <= njobs; ++j) co_await jobs.send(j);
    jobs.close();  // no more work: workers finish what is queued, then exit
    co_await wg.wait();
    results.close();
    long total = 0;
    int count = 0;
    while (auto r = co_await results.recv()) {
        total += r->value;
        ++count;
    }
    std::printf("%d jobs done by %d workers; total Collatz steps %ld\n", count, workers, total);
    co_return count == njobs ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    const int workers = argc > 1 ? std::atoi(argv[1]) : 4;
    const int jobs = argc > 2 ? std::atoi(argv[2]) : 20;
    if (workers < 1 || jobs < 0) {
        std::fprintf(stderr, "usage: worker_pool [workers>=1] [jobs>=0]\n");
        return 2;
    }
    return goro::run(main_task(workers, jobs));
}
