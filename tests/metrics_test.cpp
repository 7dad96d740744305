// goro::metrics (runtime/metrics.hpp): the counters add up on programs whose
// counts are known (created = finished + live, steals made = steals
// suffered, one fired timer per sleep), the pool and I/O figures follow what
// tasks do, and reading them while tasks run on several processors is safe
// (TSan).
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <goro/goro.hpp>
#include <goro/runtime/detail/processor_stats.hpp>

#include "support/handed_off.hpp"
#include "support/watchdog.hpp"

using namespace std::chrono_literals;
using goro_test::watchdog;

namespace {

goro::task<> nothing(goro::wait_group& wg) {
    wg.done();
    co_return;
}

goro::task<int> tree(int depth) {
    if (depth == 0) co_return 1;
    auto left = goro::spawn(tree(depth - 1));
    auto right = goro::spawn(tree(depth - 1));
    co_return co_await std::move(left) + co_await std::move(right);
}

std::uint64_t sum(const goro::runtime_metrics& m, std::uint64_t goro::processor_metrics::*field) {
    std::uint64_t n = 0;
    for (const auto& p : m.processors) n += p.*field;
    return n;
}

// How many live tasks are in a state starting with `prefix` ("IO wait",
// "blocking call", ...): the registry's word, not a counter's, so the tests
// below wait on it for the situation they then count.
std::size_t in_state(std::string_view prefix) {
    std::size_t n = 0;
    for (const auto& r : goro::goroutines())
        if (r.state.starts_with(prefix)) ++n;
    return n;
}

goro::task<> set_flag(std::atomic<bool>* flag) {
    flag->store(true, std::memory_order_release);
    co_return;
}

goro::task<> send_seven(goro::chan<int> c) { co_await c.send(7); }

goro::task<> accept_one(goro::net::tcp_listener l, bool* accepted) {
    auto s = co_await l.accept();
    *accepted = static_cast<bool>(s);
}

goro::task<> wait_in_pool(std::atomic<bool>* release) {
    auto job = [release] { release->wait(false); };  // returns once release is true
    co_await goro::blocking(job);
}

double named(const goro::runtime_metrics& m, const std::string& name) {
    for (const auto& [n, v] : m.by_name())
        if (n == name) return v;
    FAIL("no metric " << name);
    return 0;
}

}  // namespace

TEST_CASE("metrics count a known program on one processor", "[metrics]") {
    watchdog dog("metrics on one processor", 60s);
    goro::runtime_metrics before, after;
    goro::run(
        [&]() -> goro::task<> {
            before = goro::metrics();
            goro::wait_group wg;
            wg.add(100);
            for (int i = 0; i < 100; ++i) goro::go(nothing(wg));
            co_await wg.wait();  // the last done() readies main behind its own finish
            for (int i = 0; i < 3; ++i) co_await goro::sleep(1ms);
            after = goro::metrics();
        }(),
        {.procs = 1});
    CHECK(before.procs == 1);
    CHECK(before.goroutines == 1);
    CHECK(before.goroutines_created == 1);  // main
    CHECK(after.goroutines == 1);
    CHECK(after.goroutines_created == 101);
    CHECK(after.goroutines_finished == 100);
    CHECK(after.goroutines_created == after.goroutines_finished + after.goroutines);
    REQUIRE(after.processors.size() == 1);
    const auto& p = after.processors[0];
    CHECK(p.created == 100);
    CHECK(p.timers_fired == 3);   // one per sleep: nothing else sets a timer
    CHECK(p.runs >= 101 + 3);     // each task once, main after each sleep
    CHECK(p.parks >= 1);          // asleep while main sleeps, nothing else to run
    CHECK(p.steals == 0);
    CHECK(p.stolen == 0);
    CHECK(after.threads == 1 + after.blocking_threads);
    CHECK(named(after, "/sched/goroutines:goroutines") == 1);
    CHECK(named(after, "/sched/goroutines-created:goroutines") == 101);
    CHECK(named(after, "/sched/gomaxprocs:threads") == 1);
    CHECK(named(after, "/goro/sched/timers-fired:timers") == 3);
}

TEST_CASE("metrics add up across processors: created = finished + live, steals made = suffered", "[metrics]") {
    watchdog dog("metrics on four processors", 120s);
    goro::runtime_metrics m;
    goro::run(
        [&]() -> goro::task<> {
            for (int i = 0; i < 5; ++i) co_await tree(10);
            // Let the others go idle: every steal is over when they park.
            while (goro::metrics().processors.size() != 4) co_await goro::sleep(1ms);
            co_await goro::sleep(20ms);
            m = goro::metrics();
        }(),
        {.procs = 4});
    // 5 trees of 2^11 - 1 tasks, of which the roots are awaited in place... each
    // tree(10) is a nested task, its 2 * (2^10 - 1) descendants are goroutines.
    CHECK(m.goroutines == 1);
    CHECK(m.goroutines_created == 1 + 5 * 2 * ((1u << 10) - 1));
    CHECK(m.goroutines_created == m.goroutines_finished + m.goroutines);
    // Each counted where it happens: a finish on the processor that ran the
    // task's last step, which need not be the one that started it.
    CHECK(sum(m, &goro::processor_metrics::finished) == m.goroutines_finished);
    CHECK(sum(m, &goro::processor_metrics::created) == m.goroutines_created - 1);
    CHECK(sum(m, &goro::processor_metrics::steals) == sum(m, &goro::processor_metrics::stolen));
}

// The sum above holds with no steal at all; here one is certain. Two
// processors and max_threads == procs: no spare thread, so no hand-off
// (runtime/handoff.cpp) can give main's processor to another thread. Main
// starts a child, which goes to its processor's deque (start_on: never
// runnext, nor the global queue for one item), and spins without
// suspending until the child has run. Its own processor is busy with main
// and no one else may hold it, so only the other processor can run the
// child, and the only way there from a deque is a steal (steal_from);
// runnext is not stealable and the starvation rescue serves the owner's
// own deque. A steal that stopped being counted fails the first check,
// one counted on one side only the second; a steal that never happens
// hangs (the watchdog).
TEST_CASE("metrics count a steal: the spawner keeps its processor until another has run its child", "[metrics]") {
    watchdog dog("a forced steal", 60s);
    goro::runtime_metrics m;
    goro::options o;
    o.procs = 2;
    o.max_threads = 2;
    goro::run(
        [&]() -> goro::task<> {
            std::atomic<bool> ran{false};
            auto child = goro::spawn(set_flag(&ran));
            while (!ran.load(std::memory_order_acquire)) {
            }
            co_await std::move(child);
            m = goro::metrics();  // nothing else runs: every steal is counted on both sides
        }(),
        o);
    REQUIRE(m.processors.size() == 2);
    CHECK(sum(m, &goro::processor_metrics::steals) >= 1);
    CHECK(sum(m, &goro::processor_metrics::stolen) == sum(m, &goro::processor_metrics::steals));
    CHECK(named(m, "/goro/sched/steals:goroutines") == static_cast<double>(sum(m, &goro::processor_metrics::steals)));
    CHECK(m.handoffs == 0);
}

// A task started by a thread that is not a processor goes to the global
// queue (start_goroutine_outside, ready_external), and only a processor's
// take from it (global_take, or find_runnable's last look under
// sched_lock) can run it: main receives its value, so it was taken.
TEST_CASE("metrics count a take from the global queue: a task started by a plain thread", "[metrics]") {
    watchdog dog("global queue take", 60s);
    goro::runtime_metrics before, after;
    int got = 0;
    goro::run(
        [&]() -> goro::task<> {
            goro::chan<int> c;
            before = goro::metrics();
            std::thread outsider([c] { goro::go(send_seven(c)); });
            auto v = co_await c.recv();
            got = v.value_or(0);
            outsider.join();
            after = goro::metrics();
        }(),
        // Main may wait on the channel before the thread has started the
        // sender: the runtime cannot know that a plain thread will.
        {.procs = 1, .detect_deadlock = false});
    CHECK(got == 7);
    CHECK(sum(after, &goro::processor_metrics::global_taken) >= sum(before, &goro::processor_metrics::global_taken) + 1);
    CHECK(named(after, "/goro/sched/global-taken:goroutines") ==
          static_cast<double>(sum(after, &goro::processor_metrics::global_taken)));
}

// A non-blocking poll of the netpoller is certain when a processor looks
// for work with I/O in flight and nothing runnable (find_runnable, step 5:
// it polls before it steals or parks). One processor, no spare thread
// (max_threads 2 leaves the one beyond the processor to the blocking pool,
// so no hand-off: the tasks run one at a time). The acceptor waits in
// accept (the registry says so); main then connects and joins it. Whether
// the connect completes at once or parks, main ends up parked on the join
// with the accept still in the driver, whose completion only a reap brings:
// the processor, with nothing else to run, polls first.
TEST_CASE("metrics count the netpoller's polls while a task waits for I/O", "[metrics][net]") {
    watchdog dog("netpoll polls", 60s);
    goro::runtime_metrics before, after;
    bool accepted = false, connected = false;
    goro::options o;
    o.procs = 1;
    o.max_threads = 2;
    goro::run(
        [&]() -> goro::task<> {
            auto l = goro::net::tcp_listener::listen("127.0.0.1:0").value();
            const auto addr = l.local_address().value();
            auto acceptor = goro::spawn(accept_one(l, &accepted));
            while (in_state("IO wait") == 0) co_await goro::yield();
            before = goro::metrics();
            auto c = co_await goro::net::tcp_stream::connect(addr);
            connected = static_cast<bool>(c);
            co_await std::move(acceptor);
            after = goro::metrics();
        }(),
        o);
    CHECK(connected);
    CHECK(accepted);
    CHECK(sum(after, &goro::processor_metrics::polls) >= sum(before, &goro::processor_metrics::polls) + 1);
    CHECK(named(after, "/goro/sched/netpoll-polls:events") ==
          static_cast<double>(sum(after, &goro::processor_metrics::polls)));
}

// max_threads 2 at one processor: one blocking-pool thread. Two tasks call
// goro::blocking with jobs that return only when released; once both wait
// on "blocking call" (the registry), both jobs were submitted, and the one
// thread runs at most one of them: the other is queued (both are, if the
// thread has not taken the first yet). No hand-off (no spare thread), so
// main, which reads the figures, runs only while both tasks are parked.
TEST_CASE("metrics count the blocking jobs queued for a thread", "[metrics]") {
    watchdog dog("blocking jobs queued", 60s);
    goro::runtime_metrics m;
    goro::options o;
    o.procs = 1;
    o.max_threads = 2;
    goro::run(
        [&]() -> goro::task<> {
            std::atomic<bool> release{false};
            auto a = goro::spawn(wait_in_pool(&release));
            auto b = goro::spawn(wait_in_pool(&release));
            while (in_state("blocking call") < 2) co_await goro::yield();
            m = goro::metrics();
            release.store(true);
            release.notify_all();
            co_await std::move(a);
            co_await std::move(b);
        }(),
        o);
    CHECK(m.blocking_threads == 1);
    CHECK(m.blocking_queued >= 1);
    CHECK(m.blocking_queued <= 2);
    CHECK(named(m, "/goro/blocking/queued:jobs") == static_cast<double>(m.blocking_queued));
}

// A refused hand-off: one processor on the epoll driver (it hands off, as
// in the hand-off tests) and max_threads 2, whose one thread beyond the
// processor stays for the blocking pool, so the monitor can get no spare
// thread (reserve_spare). Main queues a task and computes without
// suspending: after a time slice the monitor finds the processor stuck with
// work waiting and tries to hand it off, which it must refuse and count.
// Main spins until the count shows it: as certain as the hand-off tests'
// spin_until_handed_off (the monitor's own schedule; no timing is
// asserted), and a refusal that is not counted hangs (the watchdog).
TEST_CASE("metrics count a hand-off refused at max_threads", "[metrics][handoff]") {
    watchdog dog("refused hand-off", 60s);
    goro::runtime_metrics m;
    std::atomic<bool> ran{false};
    goro::options o;
    o.procs = 1;
    o.max_threads = 2;
    o.netpoll = goro::netpoll_kind::epoll;
    o.time_slice = 1ms;
    goro::run(
        [&]() -> goro::task<> {
            goro::go(set_flag(&ran));  // queued behind main, which keeps the processor
            while (goro::metrics().handoffs_refused == 0) {
            }
            m = goro::metrics();
            co_return;
        }(),
        o);
    CHECK(m.handoffs_refused >= 1);
    CHECK(m.handoffs == 0);
    CHECK(m.spare_threads == 0);
    CHECK(named(m, "/goro/sched/handoffs-refused:events") == static_cast<double>(m.handoffs_refused));
}

TEST_CASE("metrics count a task that finishes after its processor was handed off", "[metrics][handoff]") {
    // One processor, the epoll driver (it hands off by default): a task
    // spins until a task queued behind it has run, which only a hand-off
    // allows, then starts more tasks and returns on a thread that holds no
    // processor. Its finish is counted all the same.
    const bool scheduled = GENERATE(false, true);
    INFO("scheduled: " << scheduled);
    watchdog dog("metrics across a hand-off", 120s);
    goro::runtime_metrics m;
    std::size_t listed = 0;
    goro::options o;
    o.procs = 1;
    o.netpoll = goro::netpoll_kind::epoll;
    o.time_slice = 1ms;
    goro::run(
        [&]() -> goro::task<> {
            goro::wait_group wg;
            wg.add(11);
            auto hog = [](goro::wait_group* wg) -> goro::task<> {
                goro_test::spin_until_handed_off();
                for (int i = 0; i < 10; ++i) goro::go(nothing(*wg));  // started without a processor
                co_return;                                             // and returns without one
            };
            auto h = goro::spawn(hog(&wg));
            // Joined at once, the hog runs in place (a nested task of
            // main's record: end_in_place counts its finish); after a
            // yield, the scheduler starts it (finish_goroutine counts it).
            if (scheduled) co_await goro::yield();
            co_await std::move(h);
            goro::go(nothing(wg));
            co_await wg.wait();
            for (int i = 0; i < 3; ++i) co_await goro::sleep(1ms);
            m = goro::metrics();
            listed = goro::goroutines().size();
        }(),
        o);
    CHECK(m.handoffs >= 1);
    CHECK(m.goroutines_created == 1 + 1 + 1 + 10 + 1);  // main, hog, set, 10 nothings, 1 nothing
    CHECK(m.goroutines == 1);
    CHECK(listed == 1);  // the registry agrees: only main is left
    CHECK(m.goroutines_finished == m.goroutines_created - 1);
    CHECK(m.goroutines_finished > sum(m, &goro::processor_metrics::finished));  // hog's finish had no processor
}

TEST_CASE("metrics see the blocking pool, I/O in flight and the scheduling latency", "[metrics]") {
    watchdog dog("metrics of the pool and I/O", 60s);
    goro::runtime_metrics busy, io, pp;
    goro::run(
        [&]() -> goro::task<> {
            // A blocking job that waits until released.
            std::atomic<bool> release{false};
            auto job = [&] {
                while (!release.load()) std::this_thread::sleep_for(1ms);
            };
            auto h = goro::spawn([&]() -> goro::task<> { co_await goro::blocking(job); });
            while (goro::metrics().blocking_busy == 0) co_await goro::sleep(1ms);
            busy = goro::metrics();
            release.store(true);
            co_await std::move(h);

            // An accept that waits.
            auto l = goro::net::tcp_listener::listen("127.0.0.1:0").value();
            auto acceptor = goro::spawn([&]() -> goro::task<> { (void)co_await l.accept(); });
            while (goro::metrics().io_in_flight == 0) co_await goro::sleep(1ms);
            io = goro::metrics();
            (void)l.close();
            co_await std::move(acceptor);

            // Hand-offs: readied tasks, some of them timed.
            goro::chan<int> a, b;
            goro::go([](goro::chan<int> in, goro::chan<int> out) -> goro::task<> {
                for (int i = 0; i < 5000; ++i) {
                    auto v = co_await in.recv();
                    co_await out.send(*v);
                }
            }(a, b));
            for (int i = 0; i < 5000; ++i) {
                co_await a.send(i);
                co_await b.recv();
            }
            pp = goro::metrics();
        }(),
        {.procs = 1});
    CHECK(busy.blocking_threads >= 1);
    CHECK(busy.blocking_busy >= 1);
    // Not `threads == 1 + blocking_threads`: on a loaded machine (TSan) a
    // run can outlast the time slice and its processor move to a spare
    // thread, which stays (1 failure in 20 TSan runs). threads is
    // procs + blocking_threads + spare_threads by construction.
    CHECK(busy.threads >= 1 + busy.blocking_threads);
    CHECK(io.io_in_flight >= 1);
    CHECK(pp.sched_latency.counts.size() == 24);
    CHECK(pp.sched_latency.samples() > 0);
    CHECK(pp.sched_latency.quantile_ns(0.5) > 0);
}

// The latency sample (detail/processor_stats.hpp): the loop arms the ready
// hooks once in k_latency_sample_every (976) runs, and the
// next ready puts a probe in the readied goroutine's resume point, which
// times the wait when the goroutine runs and then runs it. A ping-pong
// readies once a run, so one ready in k_latency_sample_every is timed.
// On one processor every sample's goroutine runs before the next sample is
// due, so the count is known to within a couple; a sampling that never
// fires, or fires seldom, fails here, and so does one that fires on more
// readies than it is armed for, or a probe that does not hand over to the
// goroutine (the values).
TEST_CASE("the latency sample times one ready in k_latency_sample_every and runs the goroutine on", "[metrics]") {
    watchdog dog("latency sample", 60s);
    constexpr std::uint32_t k_every = goro::detail::processor_stats::k_latency_sample_every;
    constexpr int k_trips = 50 * k_every;  // 100 samples due
    goro::runtime_metrics before, after;
    long total = 0;
    goro::run(
        [&]() -> goro::task<> {
            goro::chan<int> a, b;
            goro::go([](goro::chan<int> in, goro::chan<int> out) -> goro::task<> {
                for (int i = 0; i < k_trips; ++i) {
                    auto v = co_await in.recv();
                    co_await out.send(*v + 1);
                }
            }(a, b));
            before = goro::metrics();
            for (int i = 0; i < k_trips; ++i) {
                co_await a.send(i);
                auto v = co_await b.recv();
                total += *v;
            }
            after = goro::metrics();
        }(),
        {.procs = 1});
    // sum of (i + 1) for i < k_trips: every value went through both tasks.
    CHECK(total == static_cast<long>(k_trips) * (k_trips + 1) / 2);
    const std::uint64_t samples = after.sched_latency.samples() - before.sched_latency.samples();
    // 100 due (two runs a trip); a few fewer if the processor was handed
    // off mid-run on a loaded machine (the task's readies from a thread
    // without it are not counted), never more but for the arms' phase.
    CHECK(samples >= 2 * k_trips / k_every / 2);
    CHECK(samples <= 2 * k_trips / k_every + 2);
    CHECK(after.sched_latency.quantile_ns(0.5) > 0);
}

// One arm, one sample (detail/processor_stats.hpp): the loop arms two hooks
// at once, runnext's for ready() and netpoll_readied's for ready_local(),
// and the first to fire disarms the other. Here each run has one ready of
// each kind (a send to a parked task, then a close that wakes its
// receiver), so hooks that stayed armed would time two readies an arm.
TEST_CASE("the latency sample takes one ready an arm when ready() and ready_local() alternate", "[metrics]") {
    watchdog dog("latency sample, mixed readies", 60s);
    constexpr std::uint32_t k_every = goro::detail::processor_stats::k_latency_sample_every;
    constexpr int k_trips = 50 * k_every;  // two runs a trip: 100 samples due
    goro::runtime_metrics before, after;
    int closes = 0;
    goro::run(
        [&]() -> goro::task<> {
            goro::chan<goro::chan<int>> handoff;
            goro::go([](goro::chan<goro::chan<int>> in, int& n) -> goro::task<> {
                for (int i = 0; i < k_trips; ++i) {
                    auto done = co_await in.recv();  // readied by a send: ready()
                    done->close();                   // wakes main: ready_local()
                    ++n;
                }
            }(handoff, closes));
            before = goro::metrics();
            for (int i = 0; i < k_trips; ++i) {
                goro::chan<int> done;
                co_await handoff.send(done);
                (void)co_await done.recv();
            }
            after = goro::metrics();
        }(),
        {.procs = 1});
    CHECK(closes == k_trips);
    const std::uint64_t samples = after.sched_latency.samples() - before.sched_latency.samples();
    // As in the test above: fewer after a hand-off, never more but for the
    // arms' phase.
    CHECK(samples >= 2 * k_trips / k_every / 2);
    CHECK(samples <= 2 * k_trips / k_every + 2);
}

// A probe whose goroutine never runs again (the runtime stops with it
// runnable, as it does when main returns at once) is freed with its
// processor: the ASan build checks for the leak, every build for the crash.
TEST_CASE("a latency probe whose goroutine never runs is freed at shutdown", "[metrics]") {
    watchdog dog("latency probe at shutdown", 60s);
    std::atomic<int> ran{0};
    goro::run(
        [&]() -> goro::task<> {
            goro::chan<int> never;
            for (int i = 0; i < 600; ++i)
                goro::go([](goro::chan<int> c, std::atomic<int>& n) -> goro::task<> {
                    (void)co_await c.recv();
                    n.fetch_add(1);
                }(never, ran));
            co_await goro::sleep(1ms);  // all 600 park
            // Runs without a noted ready (a yield is not one), so that
            // the loop arms the hooks (once in k_latency_sample_every
            // runs) after main's wake from the sleep, which may have used
            // the last arm.
            constexpr std::uint32_t k_every = goro::detail::processor_stats::k_latency_sample_every;
            for (std::uint32_t i = 0; i < 2 * k_every + 10; ++i) co_await goro::yield();
            // 600 readies (the first one hooked), none of them run: main
            // returns first, and the runtime stops.
            never.close();
            co_return;
        }(),
        {.procs = 1});
    SUCCEED("shut down with " << ran.load() << " of 600 run");
}

TEST_CASE("metrics outside a runtime throws no_runtime", "[metrics]") {
    CHECK_THROWS_AS(goro::metrics(), goro::no_runtime);
}

TEST_CASE("metrics are safe to read while tasks run on four processors", "[metrics][stress]") {
    watchdog dog("metrics under load", 300s);
    std::atomic<bool> done{false};
    std::atomic<int> reads{0};
    std::thread outside([&] {
        while (!done.load()) {
            try {
                // Racy while tasks run (each counter is read at its own
                // moment): the shape is checked here, the sums at rest above.
                auto m = goro::metrics();
                if (m.processors.size() != 4 || m.procs != 4 || m.by_name().empty()) std::abort();
                reads.fetch_add(1);
            } catch (const goro::no_runtime&) {
                std::this_thread::yield();
            }
        }
    });
    goro::run(
        // At least 20 rounds, and until the outside thread has read once
        // while they run (on a loaded machine it may not have been
        // scheduled before 20 rounds end).
        [](const std::atomic<int>& outside_reads) -> goro::task<> {
            for (int round = 0; round < 20 || outside_reads.load() == 0; ++round) {
                co_await tree(7);
                (void)goro::metrics();
                co_await goro::sleep(100us);
            }
        }(reads),
        {.procs = 4});
    done.store(true);
    outside.join();
    CHECK(reads.load() > 0);
}
