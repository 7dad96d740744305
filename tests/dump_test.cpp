// goro::dump and goro::goroutines (runtime/dump.hpp): the goroutine dump on
// demand, without exiting. What it lists (every task, its state, how long
// it has waited, its spawn site in the user's file), from a task and from a
// plain thread, and that it is safe while tasks start, finish, park and wake
// on several processors (the dump pin of runtime/goroutine_dump.cpp, and the
// stop-the-world path taken where membarrier(2) is refused).
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <goro/goro.hpp>
#include <goro/runtime/detail/goroutine_dump.hpp>
#include <goro/runtime/detail/scheduler_state.hpp>

#include "support/temp_dir.hpp"
#include "support/watchdog.hpp"

using namespace std::chrono_literals;
using goro_test::watchdog;

namespace {

goro::task<> receive_forever(goro::chan<int> c) { co_await c.recv(); }
goro::task<> sleep_long() { co_await goro::sleep(1h); }
goro::task<> lock_twice(goro::mutex& m) {
    co_await m.lock();
    co_await m.lock();  // never: the first lock is held
}

std::size_t count_state(const std::vector<goro::goroutine_record>& gs, const std::string& state) {
    return static_cast<std::size_t>(
        std::count_if(gs.begin(), gs.end(), [&](const auto& g) { return g.state == state; }));
}

// Sleeps until `n` tasks are in `state` (they park soon after they start).
goro::task<> until_parked(const std::string& state, std::size_t n) {
    while (count_state(goro::goroutines(), state) < n) co_await goro::sleep(1ms);
}

bool ends_with(const std::string& s, const std::string& tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

}  // namespace

TEST_CASE("dump lists every task with its state and the user's spawn line, and the program goes on", "[dump]") {
    for (unsigned procs : {1u, 2u}) {
        watchdog dog("dump lists every task", 60s);
        std::string text, from_thread;
        std::vector<goro::goroutine_record> records;
        unsigned recv_line = 0, sleep_line = 0, lock_line = 0;
        goro::run(
            [&]() -> goro::task<> {
                goro::chan<int> c;
                goro::mutex m;
                recv_line = __LINE__ + 1;
                goro::go(receive_forever(c));
                sleep_line = __LINE__ + 1;
                goro::go(sleep_long());
                lock_line = __LINE__ + 1;
                goro::go(lock_twice(m));
                co_await until_parked("chan receive", 1);
                co_await until_parked("sleep", 1);
                co_await until_parked("sync.Mutex.Lock", 1);
                text = goro::dump_string();
                records = goro::goroutines();
                // From a thread that is not a processor, while main waits.
                std::thread t([&] {
                    // Until main has parked in the blocking call below.
                    while (goro::goroutines().front().state != "blocking call") std::this_thread::yield();
                    from_thread = goro::dump_string();
                });
                auto join_thread = [&] { t.join(); };
                co_await goro::blocking(join_thread);
                co_await c.send(1);  // the program goes on: the receiver finishes
                while (goro::goroutines().size() != 3) co_await goro::sleep(1ms);
            }(),
            {.procs = procs});
        INFO("procs " << procs << "\n" << text);
        REQUIRE(records.size() == 4);
        CHECK(records[0].id == 1);
        CHECK(records[0].main);
        CHECK(records[0].state == "running");  // main runs the dump itself
        CHECK(records[0].file.empty());
        for (std::size_t i = 1; i < records.size(); ++i) {
            CHECK_FALSE(records[i].main);
            CHECK(ends_with(records[i].file, "dump_test.cpp"));
        }
        auto find = [&](const std::string& state) {
            auto it = std::find_if(records.begin(), records.end(), [&](const auto& g) { return g.state == state; });
            REQUIRE(it != records.end());
            return *it;
        };
        CHECK(find("chan receive").line == recv_line);
        CHECK(find("sleep").line == sleep_line);
        CHECK(find("sync.Mutex.Lock").line == lock_line);
        CHECK_THAT(text, Catch::Contains("goroutine 1 [running]:\n\tmain task (goro::run)"));
        CHECK_THAT(text, Catch::Contains("[chan receive"));
        CHECK_THAT(text, Catch::Contains("[sleep"));
        CHECK_THAT(text, Catch::Contains("[sync.Mutex.Lock"));
        CHECK_THAT(text, Catch::Contains("dump_test.cpp:" + std::to_string(recv_line) + " in "));
        // The spawning function by its name, not g++'s mangled frame type.
        CHECK_THAT(text, !Catch::Contains(".Frame*"));
        // From the thread: the same tasks; main waits for the blocking call.
        CHECK_THAT(from_thread, Catch::Contains("goroutine 1 [blocking call]:"));
        CHECK_THAT(from_thread, Catch::Contains("[chan receive"));
    }
}

TEST_CASE("a task that goro starts for the user carries the user's line: after_func, resolve", "[dump]") {
    // context.AfterFunc and time.AfterFunc start f as a task of its own, and a
    // cancellable resolve runs its lookup in one: each is listed at the line
    // that called after_func or resolve, not at a line inside goro.
    watchdog dog("spawn sites of goro-started tasks", 60s);
    std::vector<goro::goroutine_record> records;
    unsigned ctx_line = 0, timer_line = 0, resolve_line = 0;
    goro::options o;
    o.procs = 1;
    o.max_threads = 2;  // one blocking-pool thread: the lookup queues behind `hold`
    goro::run(
        [&]() -> goro::task<> {
            goro::chan<int> never;
            auto [ctx, cancel] = goro::with_cancel(goro::background());
            ctx_line = __LINE__ + 1;
            auto stop_ctx = goro::after_func(ctx, [never]() -> goro::task<> { co_await never.recv(); });
            timer_line = __LINE__ + 1;
            goro::timer t = goro::after_func(1ms, [never]() -> goro::task<> { co_await never.recv(); });
            cancel();
            // The pool's one thread is held, so the lookup task of the
            // resolve below waits for it and can be seen.
            std::atomic<bool> release{false};
            auto holder = [](std::atomic<bool>* r) -> goro::task<> {
                auto hold_fn = [r] {
                    while (!r->load()) std::this_thread::sleep_for(1ms);
                };
                co_await goro::blocking(hold_fn);
            };
            auto hold = goro::spawn(holder(&release));
            co_await until_parked("blocking call", 1);  // hold has the pool's thread
            auto [rctx, rcancel] = goro::with_cancel(goro::background());
            auto lookup = [](goro::context c, unsigned* line) -> goro::task<bool> {
                *line = __LINE__ + 1;
                auto r = co_await goro::net::resolve("localhost:80", c);
                co_return static_cast<bool>(r);
            };
            auto resolver = goro::spawn(lookup(rctx, &resolve_line));
            co_await until_parked("chan receive", 2);
            co_await until_parked("blocking call", 2);  // hold's task and the lookup's
            records = goro::goroutines();
            release.store(true);
            co_await std::move(hold);
            const bool resolved = co_await std::move(resolver);
            CHECK(resolved);
            rcancel();
            (void)stop_ctx;
        }(),
        o);
    auto at_line = [&](unsigned line) {
        return std::count_if(records.begin(), records.end(), [&](const auto& g) {
            return g.line == line && ends_with(g.file, "dump_test.cpp");
        });
    };
    CHECK(at_line(ctx_line) == 1);
    CHECK(at_line(timer_line) == 1);
    CHECK(at_line(resolve_line) == 1);
}

namespace {

// A task parked on a channel for 1.1 s: the dump shows it waiting at least a
// second (and in seconds, or minutes on a very slow machine).
void check_wait_shown(const goro::options& opts) {
    std::string text;
    std::vector<goro::goroutine_record> records;
    goro::run(
        [&]() -> goro::task<> {
            goro::chan<int> started, never;
            goro::go([](goro::chan<int> s, goro::chan<int> n) -> goro::task<> {
                co_await s.send(1);
                co_await n.recv();
            }(started, never));
            co_await started.recv();
            // The sender parks on `never` before main runs again (one
            // processor: its send readied main into runnext, behind its run).
            const auto parked = std::chrono::steady_clock::now();
            while (std::chrono::steady_clock::now() - parked < 1100ms) co_await goro::sleep(50ms);
            records = goro::goroutines();
            text = goro::dump_string();
        }(),
        opts);
    INFO(text);
    REQUIRE(records.size() == 2);
    CHECK(records[0].state == "running");
    CHECK(records[0].waiting == 0ms);
    CHECK(records[1].state == "chan receive");
    // A lower bound only (the clock is coarse: a few milliseconds), and an
    // upper one far above it: the stamp shares its word with the trace flag
    // (goroutine.hpp, g_park_word), which must not count as time.
    CHECK(records[1].waiting >= 1000ms);
    CHECK(records[1].waiting < 10min);
    // "[chan receive, N seconds]:" (or minutes, on a very slow machine).
    const std::string head = "[chan receive, ";
    const std::size_t at = text.find(head);
    REQUIRE(at != std::string::npos);
    std::size_t end = at + head.size();
    while (end < text.size() && text[end] >= '0' && text[end] <= '9') ++end;
    CHECK(end > at + head.size());
    CHECK(text[at + head.size()] != '0');
    const std::string unit = text.substr(end, text.find(':', end) - end);
    CHECK((unit == " seconds]" || unit == " minutes]"));
}

}  // namespace

TEST_CASE("dump shows how long each task has waited", "[dump]") {
    watchdog dog("dump shows wait times", 60s);
    check_wait_shown({.procs = 1});
}

TEST_CASE("dump shows how long each task has waited while the run is traced", "[dump][trace]") {
    watchdog dog("dump shows wait times, traced", 60s);
    goro_test::temp_dir tmp("goro-dump-trace");
    check_wait_shown({.procs = 1, .trace = (tmp.dir / "wait.json").string()});
}

TEST_CASE("dump outside a runtime throws no_runtime", "[dump]") {
    CHECK_THROWS_AS(goro::dump_string(), goro::no_runtime);
    CHECK_THROWS_AS(goro::goroutines(), goro::no_runtime);
    CHECK_THROWS_AS(goro::dump(stderr), goro::no_runtime);
}

namespace {

// The load: ping-pong pairs, fork-join trees, short sleeps and a contended
// mutex, all spawned from this file, for `rounds` rounds.
goro::task<> pinger(goro::chan<int> in, goro::chan<int> out, int n) {
    for (int i = 0; i < n; ++i) {
        co_await out.send(i);
        co_await in.recv();
    }
}
goro::task<> ponger(goro::chan<int> in, goro::chan<int> out, int n) {
    for (int i = 0; i < n; ++i) {
        co_await in.recv();
        co_await out.send(i);
    }
}
goro::task<int> tree(int depth) {
    if (depth == 0) co_return 1;
    auto left = goro::spawn(tree(depth - 1));
    auto right = goro::spawn(tree(depth - 1));
    co_return co_await std::move(left) + co_await std::move(right);
}
goro::task<> napper(goro::mutex& m, int n) {
    for (int i = 0; i < n; ++i) {
        co_await goro::sleep(std::chrono::microseconds(100 * (i % 3)));
        co_await m.lock();
        co_await goro::yield();
        m.unlock();
    }
}

// Checks one snapshot: sorted unique ids, every task's fields intact.
bool well_formed(const std::vector<goro::goroutine_record>& gs, std::string& why) {
    for (std::size_t i = 0; i < gs.size(); ++i) {
        const auto& g = gs[i];
        if (i > 0 && gs[i - 1].id >= g.id) why = "ids not sorted or repeated";
        if (g.state.empty()) why = "empty state";
        if (!g.main && !ends_with(g.file, "dump_test.cpp")) why = "spawn site " + g.file;
        if (!g.main && g.line == 0) why = "no spawn line";
        if (g.main != (g.id == 1)) why = "main is not goroutine 1";
        if (!why.empty()) return false;
    }
    return true;
}

void stress(bool stop_the_world) {
    goro::detail::force_dump_stop_the_world(stop_the_world);
    watchdog dog("dump under load", 300s);
    std::atomic<bool> done{false};
    std::atomic<int> thread_dumps{0};
    std::string broken;
    int task_dumps = 0;
    std::FILE* sink = std::fopen("/dev/null", "w");
    REQUIRE(sink);
    std::thread outside([&] {
        // Waits for the runtime, then dumps until the program ends.
        while (!done.load()) {
            try {
                goro::dump(sink);
                thread_dumps.fetch_add(1);
            } catch (const goro::no_runtime&) {
                std::this_thread::yield();
            }
        }
    });
    goro::run(
        [&]() -> goro::task<> {
            goro::mutex m;
            goro::wait_group wg;
            for (int round = 0; round < 20; ++round) {
                for (int p = 0; p < 4; ++p) {
                    goro::chan<int> a, b;
                    goro::go(pinger(a, b, 50));
                    goro::go(ponger(b, a, 50));
                }
                wg.add(2);
                goro::go([](goro::wait_group& w) -> goro::task<> {
                    co_await tree(6);
                    w.done();
                }(wg));
                goro::go([](goro::wait_group& w, goro::mutex& mu) -> goro::task<> {
                    co_await napper(mu, 20);
                    w.done();
                }(wg, m));
                for (int k = 0; k < 5; ++k) {
                    auto gs = goro::goroutines();
                    ++task_dumps;
                    if (!well_formed(gs, broken)) co_return;
                    co_await goro::yield();
                }
            }
            co_await wg.wait();
        }(),
        {.procs = 4});
    done.store(true);
    outside.join();
    std::fclose(sink);
    goro::detail::force_dump_stop_the_world(false);
    INFO("stop the world: " << stop_the_world << ", dumps from a thread: " << thread_dumps.load());
    CHECK(broken.empty());
    CHECK(task_dumps == 100);
}

}  // namespace

TEST_CASE("dump is safe while tasks start, finish, park and wake on four processors", "[dump][stress]") {
    for (int i = 0; i < 3; ++i) stress(false);
}

TEST_CASE("dump stops the world where membarrier is refused, and the program goes on", "[dump][stress]") {
    for (int i = 0; i < 2; ++i) stress(true);
}

TEST_CASE("a task whose child runs in place (the fork-join fast path) is listed waiting on join", "[dump]") {
    // One processor: the child, never stolen, is run in place by the joiner
    // (goroutine_lifecycle.cpp, run_in_place). It lists the tasks while its
    // joiner waits on it, and itself running.
    watchdog dog("in-place join in a dump", 60s);
    std::vector<goro::goroutine_record> records;
    goro::run(
        [&]() -> goro::task<> {
            auto child = goro::spawn([&]() -> goro::task<int> {
                records = goro::goroutines();
                co_return 7;
            });
            const int v = co_await std::move(child);
            REQUIRE(v == 7);
        }(),
        {.procs = 1});
    REQUIRE(records.size() == 2);
    CHECK(records[0].main);
    CHECK(records[0].state == "join");
    CHECK(records[1].state == "running");
}

namespace {

// Plays a dump that reads the registries while a child finishes: raises
// dump_readers as a dump's pin does (goroutine_dump.cpp), and a plain thread
// lowers it once the child has run and a little more, as a dump's walk
// ends. The child finishes in place (run by its joiner: end_in_place) or
// through the scheduler (finish_goroutine). Returns the child's value if the
// joiner resumed only after the pin was released (the finish waited, as it
// must before the child's frame may be freed), -1 if before.
goro::task<int> finish_under_dump_pin(bool in_place) {
    auto& readers = goro::detail::current_runtime()->dump_readers;
    std::atomic<bool> child_ran{false};
    std::atomic<bool> released{false};
    readers.fetch_add(1, std::memory_order_seq_cst);  // as dump_pin's constructor
    std::thread dump_end([&] {
        while (!child_ran.load()) std::this_thread::yield();
        // Time for the child's finish to reach its wait: a finish that does
        // not wait resumes the joiner before `released` is set.
        std::this_thread::sleep_for(20ms);
        released.store(true);
        readers.fetch_sub(1, std::memory_order_release);  // as dump_pin's destructor
        readers.notify_all();
    });
    auto child = goro::spawn([&]() -> goro::task<int> {
        child_ran.store(true);
        co_return 7;
    });
    // Not joined yet: one processor runs the child to its end, finish and
    // all, before this task runs again.
    if (!in_place)
        while (!child_ran.load()) co_await goro::yield();
    const int v = co_await std::move(child);
    const bool waited = released.load();
    dump_end.join();
    co_return waited ? v : -1;
}

}  // namespace

TEST_CASE("a goroutine that finishes while a dump reads the registries waits for it, in place or not", "[dump]") {
    const bool in_place = GENERATE(true, false);
    INFO("in place: " << in_place);
    watchdog dog("finish under a dump's pin", 60s);
    int result = 0;
    goro::run([&]() -> goro::task<> { result = co_await finish_under_dump_pin(in_place); }(), {.procs = 1});
    CHECK(result == 7);
}

TEST_CASE("a chain of children run in place is listed: the innermost with the wait, the others on join", "[dump]") {
    // One processor: main joins A in place, A joins B in place, B blocks on
    // a channel, which parks main's record for B. A task started before
    // them lists the tasks then, and unblocks B.
    watchdog dog("in-place chain in a dump", 60s);
    std::vector<goro::goroutine_record> records;
    int got = 0;
    goro::run(
        [&]() -> goro::task<> {
            goro::chan<int> c;
            goro::go([&records, c]() -> goro::task<> {
                records = goro::goroutines();
                co_await c.send(5);
            });
            auto a = goro::spawn([&, c]() -> goro::task<int> {
                auto b = goro::spawn([c]() -> goro::task<int> {
                    auto v = co_await c.recv();
                    co_return *v;
                });
                co_return co_await std::move(b);
            });
            got = co_await std::move(a);
        }(),
        {.procs = 1});
    CHECK(got == 5);
    std::string listed;
    for (const auto& r : records) listed += std::to_string(r.id) + " [" + r.state + "] ";
    INFO(listed);
    REQUIRE(records.size() == 4);  // main, the lister (running), A, B
    std::sort(records.begin(), records.end(), [](const auto& x, const auto& y) { return x.id < y.id; });
    CHECK(records[0].main);
    CHECK(records[0].state == "join");
    CHECK(records[1].state == "running");  // the lister
    // A and B, spawned after the lister: ids in spawn order.
    CHECK(records[2].state == "join");
    CHECK(records[3].state == "chan receive");
    CHECK(ends_with(records[3].file, "dump_test.cpp"));
}

namespace {

// Sets its flag when destroyed: a frame that holds one was freed.
struct sets_on_destroy {
    std::atomic<int>* count;
    ~sets_on_destroy() { count->fetch_add(1); }
};

}  // namespace

TEST_CASE("shutdown frees a chain of children run in place, parked forever", "[dump][shutdown]") {
    // A detached task joins A in place, A joins B in place, B waits forever;
    // main returns. Shutdown destroys the detached task, which frees A and
    // B with it (they are in no registry: sanitizer builds see a leak or a
    // double free).
    watchdog dog("in-place chain at shutdown", 60s);
    std::atomic<int> freed{0};
    std::atomic<bool> parked{false};
    goro::run(
        [&]() -> goro::task<> {
            goro::go([&]() -> goro::task<> {
                auto a = goro::spawn([&]() -> goro::task<int> {
                    sets_on_destroy guard_a{&freed};
                    auto b = goro::spawn([&]() -> goro::task<int> {
                        sets_on_destroy guard_b{&freed};
                        goro::chan<int> never;
                        parked.store(true);
                        co_await never.recv();
                        co_return 1;
                    });
                    co_return co_await std::move(b);
                });
                co_await std::move(a);
            });
            while (!parked.load()) co_await goro::yield();
            const auto gs = goro::goroutines();
            CHECK(count_state(gs, "chan receive") == 1);
            CHECK(count_state(gs, "join") == 2);
        }(),
        {.procs = 1});
    CHECK(freed.load() == 2);
}

TEST_CASE("tasks started and never run are listed, and freed at shutdown", "[dump][shutdown]") {
    // One processor: main starts tasks and lists them before any runs. They
    // wait in its deque unregistered (lazy registration,
    // processor::goroutines): the dump reads the deques. Main then returns
    // with them still unstarted: shutdown destroys them from the deque.
    watchdog dog("unstarted tasks in a dump", 60s);
    std::atomic<int> freed{0};
    std::vector<goro::goroutine_record> records;
    goro::run(
        [&]() -> goro::task<> {
            for (int i = 0; i < 5; ++i)
                goro::go([&freed]() -> goro::task<> {
                    sets_on_destroy guard{&freed};
                    co_return;
                });
            auto joinable = goro::spawn([&freed]() -> goro::task<int> {
                sets_on_destroy guard{&freed};
                co_return 1;
            });
            records = goro::goroutines();
            joinable.detach();
            co_return;
        }(),
        {.procs = 1});
    std::size_t runnable = 0;
    for (const auto& r : records)
        if (r.state == "runnable") {
            ++runnable;
            CHECK(ends_with(r.file, "dump_test.cpp"));
        }
    CHECK(records.size() == 7);
    CHECK(runnable == 6);
    // Never run: their frames (and the guards in them) were destroyed, not
    // run to their end (a guard is constructed only once the body runs).
    CHECK(freed.load() == 0);
}
