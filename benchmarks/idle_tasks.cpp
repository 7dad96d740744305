// idle_tasks: start 1,000,000 tasks that all block on a receive from one
// shared channel; once all have started (a counter bumped just before the
// receive) and a 20 ms settle pause has passed, report the whole process's
// VmRSS in MB. Then close the channel and wait until all of them have woken.
//
// Two rows, each in a process of its own (RSS is a high-water mark: freed
// frames stay in the allocator's free lists, so a second phase in the same
// process would measure the larger of the two): idle_1m_rss starts the tasks
// with goro::go and joins them through a goro::wait_group; the child process
// forked before any runtime exists measures that. idle_1m_group_rss starts
// them with goro::group::go and joins with group::wait(); the parent measures
// that once the child has exited.
//
// Twin: peers/go/idle_tasks (go + sync.WaitGroup for both rows: errgroup is
// not in Go's standard library).
// Prints: idle_1m_rss <MB> MB, idle_1m_group_rss <MB> MB
#include <sys/wait.h>
#include <unistd.h>

#include <goro/goro.hpp>

#include "bench_util.hpp"

using namespace std::chrono_literals;

namespace {

constexpr long k_tasks = 1'000'000;

std::atomic<long> g_started{0};
std::atomic<long> g_woke{0};

// One frame for both rows (the group row passes no wait_group), so that
// they differ only in how the task is started and joined.
goro::task<> idler(goro::chan<int> gate, goro::wait_group* wg) {
    g_started.fetch_add(1, std::memory_order_relaxed);
    co_await gate.recv();  // parks until the channel is closed
    g_woke.fetch_add(1, std::memory_order_relaxed);
    if (wg) wg->done();
}

// Once every idler has started and parked: the process's RSS in MB.
goro::task<double> settled_rss() {
    while (g_started.load() < k_tasks) co_await goro::sleep(1ms);
    co_await goro::sleep(20ms);  // let the last ones reach the receive and park
    if (goro::num_goroutines() < static_cast<std::size_t>(k_tasks))
        bench::fail(fmt::format("idle_tasks: only {} goroutines alive", goro::num_goroutines()));
    co_return bench::rss_mb();
}

goro::task<int> with_go() {
    goro::chan<int> gate;
    goro::wait_group wg;
    wg.add(k_tasks);
    for (long i = 0; i < k_tasks; ++i) goro::go(idler(gate, &wg));
    const double mb = co_await settled_rss();
    gate.close();
    co_await wg.wait();
    if (g_woke.load() != k_tasks) bench::fail("idle_tasks: not every task woke");
    bench::figure("idle_1m_rss", mb, "MB");
    co_return 0;
}

goro::task<int> with_group() {
    goro::chan<int> gate;
    goro::group g;
    for (long i = 0; i < k_tasks; ++i) g.go(idler(gate, nullptr));
    const double mb = co_await settled_rss();
    gate.close();
    co_await g.wait();
    if (g_woke.load() != k_tasks) bench::fail("idle_tasks: not every task woke");
    bench::figure("idle_1m_group_rss", mb, "MB");
    co_return 0;
}

}  // namespace

int main() {
    const pid_t child = ::fork();  // before any runtime thread exists
    if (child < 0) bench::fail("idle_tasks: fork failed");
    if (child == 0) std::_Exit(goro::run(with_go()));
    int status = 0;
    if (::waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        bench::fail("idle_tasks: the goro::go phase failed");
    return goro::run(with_group());
}
