// goro::signal (runtime/signal.hpp): docs/go-behaviours.md, section R,
// items 85 to 89.
//
// The signals are sent with raise() (to this thread) or kill(getpid())
// (to the process). A delivery is asynchronous (the handler wakes the
// delivery thread), so a test waits for it by receiving, never by sleeping;
// the watchdog turns a lost delivery into a clear failure instead of a hang.
// The scenarios that end the process (deadlock report, SIGQUIT dump) run in
// a child process.
#include <catch2/catch.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <goro/goro.hpp>

#include "support/child_process.hpp"
#include "support/watchdog.hpp"

using namespace std::chrono_literals;

namespace {

// The handler a "program" installs for itself.
std::atomic<int> g_user_hits{0};
void user_handler(int) { g_user_hits.fetch_add(1, std::memory_order_relaxed); }

struct sigaction disposition(int signo) {
    struct sigaction a {};
    ::sigaction(signo, nullptr, &a);
    return a;
}

void set_handler(int signo, void (*h)(int)) {
    struct sigaction a {};
    a.sa_handler = h;
    ::sigemptyset(&a.sa_mask);
    ::sigaction(signo, &a, nullptr);
}

// Restores a signal's disposition at the end of a test.
struct keep_disposition {
    int signo;
    struct sigaction saved = disposition(signo);
    ~keep_disposition() { ::sigaction(signo, &saved, nullptr); }
};

// Runs `make()`'s task on a 2-processor runtime under a watchdog.
template <typename F>
auto run_scenario(const char* what, F make) {
    goro_test::watchdog guard(what, 60s);
    return goro::run(make(), {.procs = 2});
}

}  // namespace

TEST_CASE("item 85: a signal raised or sent to the process reaches the notified channel", "[signal]") {
    keep_disposition keep{SIGUSR1};
    const int r = run_scenario("signal to a channel", []() -> goro::task<int> {
        goro::chan<int> c{1};
        goro::signal::notify(c, {SIGUSR1});
        ::raise(SIGUSR1);  // this thread
        std::optional<int> got = co_await c.recv();
        if (got != SIGUSR1) co_return 1;
        ::kill(::getpid(), SIGUSR1);  // the process: any thread may take it
        got = co_await c.recv();
        if (got != SIGUSR1) co_return 2;
        goro::signal::stop(c);
        co_return 0;
    });
    CHECK(r == 0);
}

TEST_CASE("item 85: a full channel drops the signal; notify adds signals; stop ends delivery", "[signal]") {
    keep_disposition keep1{SIGUSR1};
    keep_disposition keep2{SIGUSR2};
    const int r = run_scenario("drop when full", []() -> goro::task<int> {
        goro::chan<int> full{1};
        goro::chan<int> probe{8};  // notified after `full`: its delivery comes later in each batch
        goro::signal::notify(full, {SIGUSR1});
        goro::signal::notify(probe, {SIGUSR1});
        ::raise(SIGUSR1);
        const std::optional<int> got1 = co_await probe.recv();
        if (got1 != SIGUSR1) co_return 1;
        if (full.len() != 1) co_return 2;
        ::raise(SIGUSR1);
        const std::optional<int> got2 = co_await probe.recv();
        if (got2 != SIGUSR1) co_return 3;  // `full` has been tried by now
        if (full.len() != 1) co_return 4;                   // and the second signal was dropped
        if (full.try_recv().value != SIGUSR1) co_return 5;

        // A second notify of the same channel adds to its set.
        goro::signal::notify(full, {SIGUSR2});
        goro::signal::notify(probe, {SIGUSR2});
        ::raise(SIGUSR2);
        const std::optional<int> got3 = co_await probe.recv();
        if (got3 != SIGUSR2) co_return 6;
        if (full.try_recv().value != SIGUSR2) co_return 7;

        // After stop(full) returns, nothing more reaches it, while the probe
        // still gets every signal.
        goro::signal::stop(full);
        ::raise(SIGUSR1);
        const std::optional<int> got4 = co_await probe.recv();
        if (got4 != SIGUSR1) co_return 8;
        if (full.len() != 0) co_return 9;
        goro::signal::stop(probe);
        goro::signal::stop(probe);  // stopping twice, or a channel never notified: no effect
        goro::signal::stop(goro::chan<int>{1});
        co_return 0;
    });
    CHECK(r == 0);
}

TEST_CASE("item 86: notify_context is cancelled by the signal, with the signal as its cause", "[signal]") {
    keep_disposition keep{SIGUSR1};
    const int r = run_scenario("signal context", []() -> goro::task<int> {
        auto [ctx, stop] = goro::signal::notify_context(goro::background(), {SIGUSR2, SIGUSR1});
        goro::chan<int> probe{4};
        goro::signal::notify(probe, {SIGUSR1});
        if (ctx.err()) co_return 1;
        ::kill(::getpid(), SIGUSR1);
        (void)co_await ctx.done().recv();  // the wait the test is about: no deadlock report either
        if (ctx.err() != goro::context_errc::canceled) co_return 2;
        if (goro::cause(ctx) != goro::signal::make_error_code(SIGUSR1)) co_return 3;
        if (goro::cause(ctx).message() != "user defined signal 1 signal received") co_return 4;
        // Still watched until stop: a second signal is caught, not fatal
        // (the probe shows it was handled before stop() gives SIGUSR1 back
        // its default action, which would end the test).
        ::raise(SIGUSR1);
        const std::optional<int> first = co_await probe.recv();
        const std::optional<int> second = co_await probe.recv();
        if (first != SIGUSR1 || second != SIGUSR1) co_return 5;
        goro::signal::stop(probe);
        stop();
        stop();  // again: nothing
        co_return 0;
    });
    CHECK(r == 0);
    CHECK(goro::signal::make_error_code(SIGINT).message() == "interrupt signal received");
    CHECK(goro::signal::make_error_code(SIGTERM).message() == "terminated signal received");
}

TEST_CASE("item 86: stop cancels the context; a parent's cancel reaches it; stop from many tasks at once",
          "[signal]") {
    keep_disposition keep{SIGHUP};
    const int r = run_scenario("signal context stop", []() -> goro::task<int> {
        {
            auto [ctx, stop] = goro::signal::notify_context(goro::background(), {SIGHUP});
            stop();
            if (ctx.err() != goro::context_errc::canceled) co_return 1;
            if (goro::cause(ctx) != goro::context_errc::canceled) co_return 2;  // no signal: no signal cause
        }
        {
            auto [parent, cancel_parent] = goro::with_cancel(goro::background());
            auto [ctx, stop] = goro::signal::notify_context(parent, {SIGHUP});
            cancel_parent();
            if (ctx.err() != goro::context_errc::canceled) co_return 3;
        }
        {
            auto [parent, cancel_parent] = goro::with_cancel(goro::background());
            cancel_parent();  // done before notify_context
            auto [ctx, stop] = goro::signal::notify_context(parent, {SIGHUP});
            if (ctx.err() != goro::context_errc::canceled) co_return 4;
        }
        {
            // Go's TestNotifyContextSimultaneousStop.
            auto sc = goro::signal::notify_context(goro::background(), {SIGHUP});
            auto& stop = sc.stop;
            goro::wait_group wg;
            for (int i = 0; i < 10; ++i) {
                wg.add(1);
                goro::go([&wg, &stop]() -> goro::task<> {
                    stop();
                    wg.done();
                    co_return;
                });
            }
            co_await wg.wait();
            if (sc.ctx.err() != goro::context_errc::canceled) co_return 5;
        }
        co_return 0;
    });
    CHECK(r == 0);
    // Every watch above ended: SIGHUP is back to what it was.
    CHECK(disposition(SIGHUP).sa_handler == keep.saved.sa_handler);
}

TEST_CASE("item 87: a signal nobody watches keeps its disposition; stop restores the one replaced", "[signal]") {
    keep_disposition keep1{SIGUSR1};
    keep_disposition keep2{SIGUSR2};
    keep_disposition keep3{SIGWINCH};
    set_handler(SIGUSR1, user_handler);
    set_handler(SIGUSR2, user_handler);
    set_handler(SIGWINCH, SIG_IGN);
    g_user_hits = 0;
    const int r = run_scenario("dispositions", []() -> goro::task<int> {
        goro::chan<int> c{4};
        goro::signal::notify(c, {SIGUSR1, SIGWINCH});
        // Unrequested: still the program's handler, which runs.
        if (disposition(SIGUSR2).sa_handler != user_handler) co_return 1;
        ::raise(SIGUSR2);
        // (A handler normally runs before raise returns; under TSan it may
        // run a moment later: wait for it.)
        while (g_user_hits.load() != 1) co_await goro::yield();
        // Requested: goro's handler instead; the program's does not run.
        if (disposition(SIGUSR1).sa_handler == user_handler) co_return 3;
        ::raise(SIGUSR1);
        const std::optional<int> got5 = co_await c.recv();
        if (got5 != SIGUSR1) co_return 4;
        if (g_user_hits.load() != 1) co_return 5;
        // An ignored signal is caught while watched (as in Go).
        ::raise(SIGWINCH);
        const std::optional<int> got6 = co_await c.recv();
        if (got6 != SIGWINCH) co_return 6;

        // Two watches of SIGUSR1: the first stop leaves goro's handler.
        auto [ctx, stop_ctx] = goro::signal::notify_context(goro::background(), {SIGUSR1});
        goro::signal::stop(c);
        if (disposition(SIGUSR1).sa_handler == user_handler) co_return 7;
        if (disposition(SIGWINCH).sa_handler != SIG_IGN) co_return 8;  // its only watch ended
        stop_ctx();
        // The last one put back the program's handler, which runs again.
        if (disposition(SIGUSR1).sa_handler != user_handler) co_return 9;
        ::raise(SIGUSR1);
        while (g_user_hits.load() != 2) co_await goro::yield();
        if (c.len() != 0) co_return 11;
        co_return 0;
    });
    CHECK(r == 0);
    // SIGUSR2 was never watched; default dispositions stay default.
    CHECK(disposition(SIGUSR2).sa_handler == user_handler);
}

TEST_CASE("item 87: a default disposition comes back as the default", "[signal]") {
    keep_disposition keep{SIGUSR2};
    set_handler(SIGUSR2, SIG_DFL);
    goro::chan<int> c{1};
    goro::signal::notify(c, {SIGUSR2});  // outside a run: a watch is the process's
    CHECK(disposition(SIGUSR2).sa_handler != SIG_DFL);
    goro::signal::stop(c);
    CHECK(disposition(SIGUSR2).sa_handler == SIG_DFL);
}

namespace {

// How many threads of this process are named "goro-signal" (the delivery
// thread's name).
int delivery_threads() {
    int n = 0;
    if (DIR* d = ::opendir("/proc/self/task")) {
        while (dirent* e = ::readdir(d)) {
            if (e->d_name[0] == '.') continue;
            std::ifstream comm(std::string("/proc/self/task/") + e->d_name + "/comm");
            std::string name;
            std::getline(comm, name);
            if (name == "goro-signal") ++n;
        }
        ::closedir(d);
    }
    return n;
}

// The last stop joins the thread, but its /proc entry may outlive the join
// for a moment: wait for it to go (the watchdog is the hang guard).
void wait_no_delivery_thread() {
    while (delivery_threads() != 0) std::this_thread::yield();
}

}  // namespace

TEST_CASE("one delivery thread serves every watch, and goes after the last stop", "[signal]") {
    goro_test::watchdog guard("delivery thread's life", 60s);
    keep_disposition keep1{SIGUSR1};
    keep_disposition keep2{SIGUSR2};
    wait_no_delivery_thread();  // one left by an earlier test, on its way out
    goro::chan<int> a{1}, b{1};
    goro::signal::notify(a, {SIGUSR1});
    CHECK(delivery_threads() == 1);
    goro::signal::notify(b, {SIGUSR2});
    CHECK(delivery_threads() == 1);
    goro::signal::stop(a);
    CHECK(delivery_threads() == 1);
    goro::signal::stop(b);
    wait_no_delivery_thread();
    // Again, with a signal delivered in between.
    goro::signal::notify(a, {SIGUSR1});
    CHECK(delivery_threads() == 1);
    ::raise(SIGUSR1);
    for (;;) {  // the delivery is asynchronous: wait for it
        if (a.try_recv().value == SIGUSR1) break;
        std::this_thread::yield();
    }
    goro::signal::stop(a);
    wait_no_delivery_thread();
}

TEST_CASE("signals that cannot be watched, an empty list and a nil channel are refused", "[signal]") {
    goro::chan<int> c{1};
    for (int bad : {0, -1, SIGKILL, SIGSTOP, SIGSEGV, SIGBUS, SIGFPE, SIGILL, 32, 33, _NSIG, 1000}) {
        INFO("signal " << bad);
        CHECK_THROWS_AS(goro::signal::notify(c, {SIGUSR1, bad}), goro::signal::invalid_signal);
        CHECK_THROWS_AS(goro::signal::notify_context(goro::background(), {bad}), goro::signal::invalid_signal);
    }
    CHECK_THROWS_AS(goro::signal::notify(c, {}), goro::signal::invalid_signal);
    CHECK_THROWS_AS(goro::signal::notify(goro::chan<int>::nil(), {SIGUSR1}), goro::runtime_error);
    // Nothing was installed by the refused calls.
    CHECK(disposition(SIGUSR1).sa_handler == SIG_DFL);
    // Real-time signals are fine.
    keep_disposition keep{SIGRTMIN};
    goro::signal::notify(c, {SIGRTMIN});
    goro::signal::stop(c);
}

namespace {

constexpr const char* k_deadlock = "fatal error: all goroutines are asleep - deadlock!";

// The state letter of thread `tid` of this process (/proc/self/task/<tid>/stat).
char thread_state(pid_t tid) {
    std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/stat");
    std::string line;
    std::getline(in, line);
    const auto close_paren = line.rfind(')');
    return close_paren == std::string::npos || close_paren + 2 >= line.size() ? '?' : line[close_paren + 2];
}

}  // namespace

TEST_CASE("item 88: a program waiting only for a signal is not deadlocked; after stop it is", "[signal][deadlock]") {
    // One processor, the child's main thread. The helper thread sends the
    // signal only once main has parked and that processor sleeps in the
    // kernel: the deadlock check runs before a processor parks, so a wrong
    // report would have come by then.
    auto waiting = goro_test::run_in_child([] {
        static std::atomic<bool> about_to_wait{false};
        std::thread helper([] {
            while (!about_to_wait.load()) std::this_thread::yield();
            while (thread_state(::getpid()) != 'S') std::this_thread::sleep_for(1ms);
            ::kill(::getpid(), SIGTERM);
        });
        const int r = goro::run(
            []() -> goro::task<int> {
                auto [ctx, stop] = goro::signal::notify_context(goro::background(), {SIGINT, SIGTERM});
                about_to_wait = true;
                (void)co_await ctx.done().recv();
                co_return goro::cause(ctx) == goro::signal::make_error_code(SIGTERM) ? 0 : 3;
            }(),
            {.procs = 1});
        helper.join();
        return r;
    });
    INFO(waiting.stderr_text);
    CHECK_FALSE(waiting.timed_out);
    CHECK(waiting.exit_status == 0);

    // goro differs from Go here: once the last watch stopped, all tasks
    // asleep is a deadlock again (Go's runtime never reports one again once
    // os/signal has started watching).
    auto stopped = goro_test::run_in_child([] {
        goro::run(
            []() -> goro::task<> {
                goro::chan<int> c{1};
                goro::signal::notify(c, {SIGUSR1});
                goro::signal::stop(c);
                (void)co_await c.recv();
            }(),
            {.procs = 1});
        return 0;
    });
    INFO(stopped.stderr_text);
    CHECK_FALSE(stopped.timed_out);
    CHECK(stopped.exit_status == 2);
    CHECK_THAT(stopped.stderr_text, Catch::StartsWith(k_deadlock));
}

TEST_CASE("item 89: a watch of SIGQUIT wins over the goroutine dump, which comes back after stop", "[signal]") {
    auto r = goro_test::run_in_child([] {
        ::signal(SIGQUIT, SIG_DFL);  // a background job may inherit it ignored
        goro::run(
            []() -> goro::task<> {
                const auto dump_handler = disposition(SIGQUIT).sa_handler;
                if (dump_handler == SIG_DFL) std::_Exit(10);  // the dump is installed
                goro::chan<int> c{1};
                goro::signal::notify(c, {SIGQUIT});
                ::raise(SIGQUIT);
                const std::optional<int> got7 = co_await c.recv();
                if (got7 != SIGQUIT) std::_Exit(11);  // delivered, no dump
                goro::signal::stop(c);
                if (disposition(SIGQUIT).sa_handler != dump_handler) std::_Exit(12);
                ::raise(SIGQUIT);  // now the dump: "SIGQUIT: quit", exit 2
                co_await goro::sleep(1h);
            }(),
            {.procs = 2});
        return 13;
    });
    INFO(r.stderr_text);
    CHECK_FALSE(r.timed_out);
    CHECK(r.exit_status == 2);
    CHECK_THAT(r.stderr_text, Catch::StartsWith("SIGQUIT: quit"));

    // A watch still in place when run() returns keeps SIGQUIT; its stop then
    // puts back the default, not the dump of a runtime that is gone.
    auto after = goro_test::run_in_child([] {
        ::signal(SIGQUIT, SIG_DFL);
        static goro::chan<int> c{1};
        goro::run(
            []() -> goro::task<> {
                goro::signal::notify(c, {SIGQUIT});
                co_return;
            }(),
            {.procs = 1});
        if (disposition(SIGQUIT).sa_handler == SIG_DFL) return 20;
        goro::signal::stop(c);
        if (disposition(SIGQUIT).sa_handler != SIG_DFL) return 21;
        return 0;
    });
    INFO(after.stderr_text);
    CHECK(after.exit_status == 0);
}
