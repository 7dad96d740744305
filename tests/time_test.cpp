// goro::after, timer, ticker, after_func, tick (docs/go-behaviours.md, section K,
// Go >= 1.23 synchronous timer semantics). Timing bounds are generous.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <utility>
#include <vector>

#include <goro/goro.hpp>

#include "support/watchdog.hpp"

using namespace std::chrono_literals;
using clk = std::chrono::steady_clock;

namespace {

constexpr int k_div = goro_test::stress_divisor;

// Upper bounds on elapsed times are hang guards only (a loop that would
// otherwise spin for ever), far above any delay of a shared, noisy machine.
constexpr double k_hang_guard_ms = 10'000;

double ms_since(clk::time_point t) { return std::chrono::duration<double, std::milli>(clk::now() - t).count(); }

}  // namespace

TEST_CASE("item 43: after() with huge and negative durations", "[timer]") {
    auto main_task = []() -> goro::task<int> {
        const auto start = clk::now();
        co_await goro::sleep(100ms);
        if (ms_since(start) < 100) co_return 1;
        auto huge = goro::after(std::chrono::nanoseconds::max());
        auto small = goro::after(25ms);
        const int won = co_await goro::select(huge.recv_case(), small.recv_case());
        if (won != 1) co_return 2;
        // A negative duration is due at once: it beats a timer an hour away
        // (a wrap-around into the far future would lose, or hang).
        for (auto negative : {std::chrono::nanoseconds(-1s), std::chrono::nanoseconds::min()}) {
            auto now_due = goro::after(negative);
            auto far = goro::after(1h);
            if (co_await goro::select(now_due.recv_case(), far.recv_case()) != 0) co_return 3;
        }
        co_return 0;
    };
    REQUIRE(goro::run(main_task(), {.procs = 2}) == 0);
}

TEST_CASE("item 44: after() delivers the firing time, at least start + d", "[timer]") {
    auto main_task = []() -> goro::task<int> {
        const auto start = clk::now();
        auto c = goro::after(10ms);
        co_await goro::sleep(300ms);
        const auto slept_until = clk::now();
        auto v = co_await c.recv();
        if (!v) co_return 1;
        if (*v < start + 10ms) co_return 2;
        // The firing time, not the receive time: one processor, one timer
        // heap, so the 10 ms timer fired before the 300 ms sleep ended.
        if (*v > slept_until) co_return 3;
        const auto t0 = clk::now();
        for (int i = 0; i < 10; ++i) co_await goro::after(20ms).recv();
        const double took = ms_since(t0);
        if (took < 200 || took > k_hang_guard_ms) co_return 4;  // they add up, never early
        co_return 0;
    };
    REQUIRE(goro::run(main_task(), {.procs = 1}) == 0);
}

// The order asserted is the order of the firing times the channels carry, not
// the order in which the woken tasks get to run (that depends on the OS
// scheduling our threads, which a loaded machine delays by tens of ms). With
// one processor every timer is on one heap, fired earliest deadline first, so
// the firing times follow the deadlines exactly; with two, each processor's
// heap is in order and nothing ever fires early.
TEST_CASE("item 45: timers fire in deadline order", "[timer]") {
    for (unsigned procs : {1u, 2u}) {
        auto main_task = [](unsigned p) -> goro::task<int> {
            const int slots[] = {5, 3, 6, 6, 6, 1, 1, 2, 7, 9, 4, 8, 0};
            goro::chan<std::pair<int, clk::time_point>> results(std::size(slots));
            const auto start = clk::now();
            for (int s : slots)
                goro::go([](int slot, goro::chan<std::pair<int, clk::time_point>> out) -> goro::task<> {
                    const auto fired = co_await goro::after(20ms * slot).recv();
                    std::pair<int, clk::time_point> r{slot, *fired};
                    co_await out.send(std::move(r));
                }(s, results));
            std::vector<std::pair<int, clk::time_point>> got;
            for (std::size_t i = 0; i < std::size(slots); ++i) got.push_back(*co_await results.recv());
            std::sort(got.begin(), got.end());  // by slot, i.e. by deadline
            for (std::size_t i = 0; i < got.size(); ++i) {
                if (got[i].second < start + 20ms * got[i].first) co_return 100 + got[i].first;  // never early
                if (p == 1 && i > 0 && got[i].second < got[i - 1].second) co_return 200 + got[i].first;
            }
            co_return 0;
        };
        INFO("procs = " << procs);
        REQUIRE(goro::run(main_task(procs), {.procs = procs}) == 0);
    }
}

TEST_CASE("item 46: stop and reset results; a stopped after_func never runs", "[timer]") {
    auto main_task = []() -> goro::task<int> {
        goro::timer t(50ms);
        if (!t.stop()) co_return 1;  // pending
        if (t.stop()) co_return 2;   // already stopped
        co_await goro::sleep(100ms);
        if (t.c().try_recv()) co_return 3;  // nothing delivered

        goro::timer r(20ms);
        co_await goro::sleep(5ms);
        if (!r.reset(60ms)) co_return 4;  // unfired: true, re-armed
        const auto t0 = clk::now();
        co_await r.c().recv();
        if (ms_since(t0) < 40) co_return 5;  // fired per the new schedule, not the old one
        if (r.reset(10ms)) co_return 6;      // expired and received: false
        co_await r.c().recv();

        std::atomic<bool> ran{false};
        goro::timer f = goro::after_func(30ms, [&] { ran.store(true); });
        if (!f.stop()) co_return 7;
        if (!f.c().is_nil()) co_return 8;
        co_await goro::sleep(80ms);
        if (ran.load()) co_return 9;

        // Go's TestTimerStopStress, scaled: AfterFunc(200ms) stopped at 100ms never run.
        std::atomic<int> calls{0};
        std::vector<goro::timer> timers;
        for (int i = 0; i < 100; ++i) timers.push_back(goro::after_func(200ms, [&] { calls.fetch_add(1); }));
        co_await goro::sleep(100ms);
        for (auto& x : timers)
            if (!x.stop()) co_return 10;
        co_await goro::sleep(200ms);
        co_return calls.load() == 0 ? 0 : 11;
    };
    REQUIRE(goro::run(main_task(), {.procs = 2}) == 0);
}

TEST_CASE("item 47: no stale values after stop or reset", "[timer]") {
    for (unsigned procs : {1u, 2u}) {
        auto main_task = []() -> goro::task<int> {
            goro::timer t(1h);
            t.reset(1ns);
            co_await goro::sleep(10ms);       // it fired into the channel...
            if (!t.stop()) co_return 1;       // ...but was not received: pending (drained)
            if (t.c().try_recv()) co_return 2;
            if (t.c().len() != 0) co_return 3;
            t.reset(1ns);
            co_await goro::sleep(10ms);
            t.reset(1h);  // must not let the 1ns value leak
            if (t.c().try_recv()) co_return 4;
            co_await goro::sleep(10ms);
            if (t.c().try_recv()) co_return 5;
            // A ticker's pending tick is discarded by stop() and reset().
            goro::ticker tk(1ms);
            co_await goro::sleep(10ms);
            tk.stop();
            if (tk.c().try_recv()) co_return 6;
            co_await goro::sleep(10ms);
            if (tk.c().try_recv()) co_return 7;
            co_return 0;
        };
        REQUIRE(goro::run(main_task(), {.procs = procs}) == 0);
    }
}

TEST_CASE("item 48: stop/reset results are consistent under a race with firing", "[timer][stress]") {
    for (unsigned procs : {1u, 2u, 4u}) {
        INFO("procs = " << procs);
        goro_test::watchdog dog("item 48", 60s);
        auto main_task = []() -> goro::task<int> {
            const int tasks = 100 / k_div, pairs = 100 / k_div;
            goro::wait_group wg;
            std::atomic<int> bad{0};
            for (int i = 0; i < tasks; ++i) {
                wg.add(1);
                goro::go([](int n, std::atomic<int>& b, goro::wait_group& w, bool use_reset) -> goro::task<> {
                    for (int k = 0; k < n; ++k) {
                        goro::timer a(1ms), c(1ms);
                        const int first = co_await goro::select(a.c().recv_case(), c.c().recv_case());
                        goro::timer& other = first == 0 ? c : a;
                        const bool pending = use_reset ? other.reset(1h) : other.stop();
                        // Synchronous semantics: the other value was never
                        // received, so it must have been pending, and it must
                        // now be gone.
                        if (!pending) b.fetch_add(1);
                        if (other.c().try_recv()) b.fetch_add(1);
                    }
                    w.done();
                }(pairs, bad, wg, i % 2 == 0));
            }
            co_await wg.wait();
            co_return bad.load();
        };
        REQUIRE(goro::run(main_task(), {.procs = procs}) == 0);
    }
}

TEST_CASE("item 49: zero-duration timers are never missed; moved timers still fire", "[timer][stress]") {
    goro_test::watchdog dog("item 49", 60s);
    auto main_task = []() -> goro::task<int> {
        for (int i = 0; i < 20000 / k_div; ++i) {
            goro::timer t(0ns);
            co_await t.c().recv();
        }
        goro::timer reused(0ns);
        for (int i = 0; i < 20000 / k_div; ++i) {
            co_await reused.c().recv();
            reused.reset(0ns);
        }
        // TestTimerModifiedEarlier: stop / reset to the past, 10 times, then it fires.
        goro::timer m(1h);
        for (int i = 0; i < 10; ++i) {
            m.stop();
            m.reset(-1s);
            m.stop();
            m.reset(1h);
        }
        m.reset(1ms);
        co_await m.c().recv();
        co_return 0;
    };
    REQUIRE(goro::run(main_task(), {.procs = 2}) == 0);
}

TEST_CASE("item 50: after_func runs f as its own task; a blocking callback delays nothing", "[timer]") {
    auto main_task = []() -> goro::task<int> {
        goro::chan<int> done(1);
        std::atomic<int> count{0};
        std::vector<goro::timer> keep;
        // A chain of 10 after_func(0): each callback arms the next, then blocks
        // until all 10 have started. Serial callbacks could never get there
        // (the first would wait for ever): the chain completes only if each
        // runs as its own task.
        goro::chan<int> gate;  // closed once all 10 run
        std::function<void()> step;
        step = [&] {
            if (count.fetch_add(1) + 1 == 10) {
                (void)done.try_send(1);
                return;
            }
            keep.push_back(goro::after_func(0ns, [&]() -> goro::task<> {
                step();
                co_await gate.recv();
            }));
        };
        keep.reserve(16);
        step();
        co_await done.recv();
        gate.close();
        co_return 0;
    };
    REQUIRE(goro::run(main_task(), {.procs = 1}) == 0);
}

TEST_CASE("item 51: timers fire while busy tasks hog the only processor", "[timer][stress]") {
    goro_test::watchdog dog("item 51", 30s);
    auto main_task = []() -> goro::task<int> {
        // A yield loop polling a timer channel: the scheduler checks timers every tick.
        goro::timer t(5ms);
        const auto t0 = clk::now();
        while (!t.c().try_recv()) co_await goro::yield();
        if (ms_since(t0) > k_hang_guard_ms) co_return 1;

        // TestAfterFuncStarvation: two tasks ping-pong on a cap-1 channel
        // until after_func(1us) sets stop.
        std::atomic<bool> stop{false};
        goro::chan<int> c(1);
        goro::wait_group wg;
        goro::timer f = goro::after_func(1us, [&] { stop.store(true); });
        for (int k = 0; k < 2; ++k) {
            wg.add(1);
            goro::go([](goro::chan<int> ch, std::atomic<bool>& st, goro::wait_group& w) -> goro::task<> {
                while (!st.load()) {
                    co_await ch.send(0);
                    co_await ch.recv();
                }
                w.done();
            }(c, stop, wg));
        }
        co_await wg.wait();

        // A select on {hot channel, after(20ms)} takes the timer at all.
        goro::chan<int> hot(1);
        goro::go([](goro::chan<int> h) -> goro::task<> {
            for (;;) co_await h.send(1);
        }(hot));
        auto timeout = goro::after(20ms);
        const auto t1 = clk::now();
        for (;;) {
            const int i = co_await goro::select(hot.recv_case(), timeout.recv_case());
            if (i == 1) break;
            if (ms_since(t1) > k_hang_guard_ms) co_return 2;
        }
        co_return 0;
    };
    REQUIRE(goro::run(main_task(), {.procs = 1}) == 0);
}

TEST_CASE("item 52: ticker period, reset, stop, and bad intervals", "[timer]") {
    auto main_task = []() -> goro::task<int> {
        constexpr int count = 10;
        constexpr auto delta = 20ms;
        goro::ticker tk(delta);
        const auto t0 = clk::now();
        for (int i = 0; i < count / 2; ++i) co_await tk.c().recv();
        tk.reset(delta * 2);
        for (int i = count / 2; i < count; ++i) co_await tk.c().recv();
        const double took = ms_since(t0), target = 3.0 * 20 * count / 2;
        // Never early (a pending tick can shorten the first wait, hence 0.7);
        // late only by a hang guard: a busy machine delays ticks.
        if (took < target * 0.7 || took > k_hang_guard_ms) co_return 1;
        tk.stop();
        co_await goro::sleep(delta * 3);
        if (tk.c().try_recv()) co_return 2;

        bool threw = false;
        try {
            goro::ticker bad(0ms);
        } catch (const goro::runtime_error& e) {
            threw = std::string(e.what()) == "non-positive interval for NewTicker";
        }
        if (!threw) co_return 3;
        threw = false;
        try {
            tk.reset(-1ms);
        } catch (const goro::runtime_error& e) {
            threw = std::string(e.what()) == "non-positive interval for Ticker.Reset";
        }
        if (!threw) co_return 4;
        if (!goro::tick(0ms).is_nil()) co_return 5;
        auto tc = goro::tick(1ms);
        co_await tc.recv();
        co_return 0;
    };
    REQUIRE(goro::run(main_task(), {.procs = 2}) == 0);
}

TEST_CASE("item 52: concurrent receivers each get distinct ticks", "[timer][stress]") {
    goro_test::watchdog dog("ticker receivers", 60s);
    auto main_task = []() -> goro::task<int> {
        goro::ticker tk(1ms);
        const int receivers = 10, each = 20;
        goro::chan<clk::time_point> got(receivers * each);
        goro::wait_group wg;
        for (int r = 0; r < receivers; ++r) {
            wg.add(1);
            goro::go([](const goro::chan<goro::time_point>& c, goro::chan<clk::time_point> out, int n,
                        goro::wait_group& w) -> goro::task<> {
                for (int i = 0; i < n; ++i) co_await out.send(*co_await c.recv());
                w.done();
            }(tk.c(), got, each, wg));
        }
        co_await wg.wait();
        std::vector<clk::time_point> all;
        while (auto v = got.try_recv()) all.push_back(*v.value);
        std::sort(all.begin(), all.end());
        const bool distinct = std::adjacent_find(all.begin(), all.end()) == all.end();
        co_return static_cast<int>(all.size()) == receivers * each && distinct ? 0 : 1;
    };
    REQUIRE(goro::run(main_task(), {.procs = 2}) == 0);
}

TEST_CASE("item 53: a ticker drops ticks for a slow receiver", "[timer]") {
    auto main_task = []() -> goro::task<int> {
        const auto start = clk::now();
        goro::ticker tk(10ms);
        co_await goro::sleep(300ms);
        const auto slept_until = clk::now();
        auto first = tk.c().try_recv();
        if (!first) co_return 1;                                  // exactly one pending...
        // ...with the time of the first missed tick: one processor, one
        // heap, so it fired before the 300 ms sleep ended, and not before 10 ms.
        if (*first.value > slept_until || *first.value < start + 10ms) co_return 2;
        if (tk.c().try_recv()) co_return 3;                       // not a burst
        const auto t0 = clk::now();
        co_await tk.c().recv();
        if (ms_since(t0) < 1) co_return 4;                        // the next one comes later
        co_return 0;
    };
    REQUIRE(goro::run(main_task(), {.procs = 1}) == 0);
}

TEST_CASE("item 46: run() returns with unfired after_func / after / ticker pending: nothing leaks (ASan)",
          "[timer]") {
    // Go simply exits; goro's rule (runtime/run.hpp, shutdown) is that nothing
    // leaks. Run under ASan with detect_leaks=1. The token counts the copies
    // of f still alive once run() has returned.
    const std::size_t before = goro::detail::debug_live_timer_states();
    auto token = std::make_shared<int>(0);
    goro::chan<goro::time_point> outside = goro::chan<goro::time_point>::nil();
    auto main_task = [](std::shared_ptr<int> tok, goro::chan<goro::time_point>& out) -> goro::task<int> {
        goro::timer kept = goro::after_func(1h, [tok] { ++*tok; });  // main's own: stopped when main returns
        auto c = goro::after(1h);                                     // time.After, never received
        (void)c;
        (void)goro::after(1h);                                        // dropped at once
        out = goro::after(1h);                                        // its channel outlives the runtime
        (void)goro::tick(1h);                                         // time.Tick: "leaks" while runtimes run
        goro::ticker tk(1h);
        // Timers owned by a task still parked at shutdown: its frame is
        // destroyed after the timer heaps were cleared without firing.
        goro::chan<int> armed(1);
        goro::go([](std::shared_ptr<int> t, goro::chan<int> a) -> goro::task<> {
            goro::timer f = goro::after_func(1h, [t] { ++*t; });
            goro::timer plain(1h);
            goro::ticker tick(1h);
            co_await a.send(1);
            co_await goro::chan<int>::nil().recv();  // parked until shutdown
        }(tok, armed));
        co_await armed.recv();
        co_return *tok;
    };
    REQUIRE(goro::run(main_task(token, outside), {.procs = 2}) == 0);
    REQUIRE(token.use_count() == 1);  // every copy of every f was destroyed
    REQUIRE(goro::detail::debug_live_timer_states() == before);  // every state freed
    REQUIRE(outside.try_recv().status == goro::recv_status::empty);  // nothing fired into it; still usable
}

// Go 1.23 made timer channels synchronous: chanlen and chancap report 0 for
// them even though the runtime keeps the fired value until it is received.
TEST_CASE("item 47: timer channels report len() == 0 and cap() == 0 (Go 1.23 synchronous)", "[timer]") {
    auto main_task = []() -> goro::task<int> {
        goro::timer t(1ns);
        if (t.c().cap() != 0 || t.c().len() != 0) co_return 1;
        co_await goro::sleep(5ms);  // it has fired; nobody received yet
        if (t.c().len() != 0 || t.c().cap() != 0) co_return 2;
        auto v = co_await t.c().recv();  // the value is still there
        if (!v) co_return 3;
        auto a = goro::after(1ns);
        co_await goro::sleep(5ms);
        if (a.len() != 0 || a.cap() != 0) co_return 4;
        goro::ticker tk(1ms);
        co_await goro::sleep(5ms);
        if (tk.c().len() != 0 || tk.c().cap() != 0) co_return 5;
        co_await tk.c().recv();
        co_return 0;
    };
    REQUIRE(goro::run(main_task(), {.procs = 2}) == 0);
}
