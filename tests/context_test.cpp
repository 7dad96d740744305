// goro::context (docs/go-behaviours.md, section L), sleep(d, ctx), and the
// context-bounded semaphore acquire (items 38 and 42).
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <goro/goro.hpp>

#include "support/watchdog.hpp"

using namespace std::chrono_literals;
using clk = std::chrono::steady_clock;

namespace {

constexpr int k_div = goro_test::stress_divisor;

double ms_since(clk::time_point t) { return std::chrono::duration<double, std::milli>(clk::now() - t).count(); }

bool is_done(const goro::context& c) { return c.done().try_recv().status == goro::recv_status::closed; }

}  // namespace

TEST_CASE("error codes use Go's messages", "[ctx]") {
    CHECK(std::error_code(goro::context_errc::canceled).message() == "context canceled");
    CHECK(std::error_code(goro::context_errc::deadline_exceeded).message() == "context deadline exceeded");
    CHECK(goro::is_timeout(goro::context_errc::deadline_exceeded));
    CHECK_FALSE(goro::is_timeout(goro::context_errc::canceled));
    CHECK(std::error_code(goro::context_errc::deadline_exceeded) == std::errc::timed_out);
}

TEST_CASE("item 54: background / todo are never done; without_cancel keeps values only", "[ctx]") {
    auto bg = goro::background();
    CHECK(bg.done().is_nil());
    CHECK(bg.done().try_recv().status == goro::recv_status::empty);
    CHECK_FALSE(bg.err());
    CHECK_FALSE(bg.deadline());
    CHECK_FALSE(goro::todo().err());

    struct key {
        int k;
        bool operator==(const key&) const = default;
    };
    auto [parent, cancel] = goro::with_cancel(goro::with_value(bg, key{1}, std::string("v")));
    auto wc = goro::without_cancel(parent);
    cancel();
    CHECK(parent.err() == goro::context_errc::canceled);
    CHECK_FALSE(wc.err());
    CHECK(wc.done().is_nil());
    REQUIRE(wc.value<std::string>(key{1}));
    CHECK(*wc.value<std::string>(key{1}) == "v");
}

TEST_CASE("item 55: cancel closes done on the context and every descendant", "[ctx]") {
    auto main_task = []() -> goro::task<int> {
        auto [parent, cancel] = goro::with_cancel(goro::background());
        auto [cchild, ccancel] = goro::with_cancel(parent);
        auto vchild = goro::with_value(parent, 1, 2);
        auto [tchild, tcancel] = goro::with_timeout(vchild, 1h);
        if (parent.debug_children() != 2) co_return 1;  // cchild and tchild (via the value node)
        if (is_done(parent) || is_done(cchild) || is_done(vchild) || is_done(tchild)) co_return 2;
        // A task parked on a descendant's done wakes too.
        auto waiter = goro::spawn([](goro::context c) -> goro::task<bool> {
            auto v = co_await c.done().recv();
            co_return !v.has_value();
        }(tchild));
        co_await goro::sleep(1ms);
        cancel();
        if (!co_await std::move(waiter)) co_return 3;
        for (const auto* c : {&parent, &cchild, &vchild, &tchild}) {
            if (!is_done(*c)) co_return 4;
            if (c->err() != goro::context_errc::canceled) co_return 5;
        }
        if (parent.debug_children() != 0) co_return 6;
        ccancel();
        tcancel();
        co_return 0;
    };
    REQUIRE(goro::run(main_task(), {.procs = 2}) == 0);
}

TEST_CASE("item 56: cancelling a child detaches it; a child of a done parent is born done", "[ctx]") {
    auto [parent, cancel] = goro::with_cancel(goro::background());
    CHECK(parent.debug_children() == 0);
    {
        auto [child, ccancel] = goro::with_cancel(parent);
        CHECK(parent.debug_children() == 1);
        ccancel();
        CHECK(child.err() == goro::context_errc::canceled);
        CHECK_FALSE(parent.err());
        CHECK(parent.debug_children() == 0);
    }
    {
        auto [child, ccancel] = goro::with_cancel(parent);
        CHECK(parent.debug_children() == 1);
    }  // dropped without cancel: no longer counted (no leak)
    CHECK(parent.debug_children() == 0);
    cancel();
    auto [late, lcancel] = goro::with_cancel(parent);
    CHECK(is_done(late));
    CHECK(late.err() == goro::context_errc::canceled);
}

TEST_CASE("item 57: deadlines: exceeded, in the past, earliest ancestor governs, cancel first", "[ctx]") {
    auto main_task = []() -> goro::task<int> {
        auto [past, pc] = goro::with_deadline(goro::background(), clk::now() - 1s);
        if (past.err() != goro::context_errc::deadline_exceeded) co_return 1;
        auto [now_ctx, nc] = goro::with_timeout(goro::background(), 0ms);
        if (now_ctx.err() != goro::context_errc::deadline_exceeded) co_return 2;

        const auto t0 = clk::now();
        auto [p, pcancel] = goro::with_timeout(goro::background(), 50ms);
        auto [c, ccancel] = goro::with_timeout(p, 1h);  // only the parent's deadline can end it
        if (!c.deadline() || *c.deadline() > clk::now() + 1s) co_return 3;  // the parent's is sooner
        co_await c.done().recv();
        if (ms_since(t0) < 40) co_return 4;  // not before the parent's deadline
        if (c.err() != goro::context_errc::deadline_exceeded) co_return 5;
        if (!goro::is_timeout(c.err())) co_return 6;

        auto [k, kcancel] = goro::with_timeout(goro::background(), 1h);
        kcancel();
        if (k.err() != goro::context_errc::canceled) co_return 7;
        co_return 0;
    };
    REQUIRE(goro::run(main_task(), {.procs = 2}) == 0);
}

TEST_CASE("item 58: simultaneous cancels across a tree never deadlock", "[ctx][stress]") {
    for (unsigned procs : {1u, 2u, 4u}) {
        INFO("procs = " << procs);
        goro_test::watchdog dog("item 58", 60s);
        auto main_task = []() -> goro::task<int> {
            std::mt19937 rng(42);
            for (int rep = 0; rep < 100 / k_div; ++rep) {
                // A 100-node, 4-ary tree.
                std::vector<goro::context> nodes;
                std::vector<goro::cancel_func> cancels;
                auto [root, rcancel] = goro::with_cancel(goro::background());
                nodes.push_back(root);
                cancels.push_back(rcancel);
                for (int i = 1; i < 100; ++i) {
                    auto [c, cf] = goro::with_cancel(nodes[(i - 1) / 4]);
                    nodes.push_back(c);
                    cancels.push_back(cf);
                }
                std::shuffle(cancels.begin(), cancels.end(), rng);
                goro::wait_group wg;
                for (auto& cf : cancels) {
                    wg.add(1);
                    goro::go([](goro::cancel_func f, goro::wait_group& w) -> goro::task<> {
                        f();
                        w.done();
                        co_return;
                    }(cf, wg));
                }
                for (auto& n : nodes) {
                    co_await n.done().recv();  // only the cancels can end it
                }
                co_await wg.wait();
            }
            co_return 0;
        };
        REQUIRE(goro::run(main_task(), {.procs = procs}) == 0);
    }
}

TEST_CASE("item 59: cancel causes: the first wins; timeout causes only if the timeout fired", "[ctx]") {
    const std::error_code err_a = std::make_error_code(std::errc::io_error);
    const std::error_code err_b = std::make_error_code(std::errc::no_space_on_device);
    auto [c, cancel] = goro::with_cancel_cause(goro::background());
    CHECK_FALSE(goro::cause(c));
    cancel(err_a);
    cancel(err_b);
    CHECK(goro::cause(c) == err_a);
    CHECK(c.err() == goro::context_errc::canceled);

    auto [plain, pcancel] = goro::with_cancel(goro::background());
    pcancel();
    CHECK(goro::cause(plain) == goro::context_errc::canceled);  // no cause: Err()

    auto [child, ccancel] = goro::with_cancel(c);
    CHECK(goro::cause(child) == err_a);  // inherited from the cancelled parent

    auto [t, tcancel] = goro::with_timeout_cause(goro::background(), 0ms, err_b);
    CHECK(t.err() == goro::context_errc::deadline_exceeded);
    CHECK(goro::cause(t) == err_b);

    auto main_task = [](std::error_code too_slow) -> goro::task<int> {
        auto [t2, t2cancel] = goro::with_timeout_cause(goro::background(), 1h, too_slow);
        t2cancel();  // cancelled before the timeout: no timeout cause
        co_return goro::cause(t2) == goro::context_errc::canceled ? 0 : 1;
    };
    CHECK(goro::run(main_task(err_b), {.procs = 1}) == 0);
}

TEST_CASE("item 61: values: nearest binding wins, null shadows, distinct key types never collide", "[ctx]") {
    struct key1 {
        int v;
        bool operator==(const key1&) const = default;
    };
    struct key2 {
        int v;
        bool operator==(const key2&) const = default;
    };
    auto c0 = goro::background();
    auto c1 = goro::with_value(c0, key1{1}, std::string("c1k1"));
    auto c2 = goro::with_value(c1, key2{1}, std::string("c2k2"));
    auto c3 = goro::with_value(c2, key2{1}, std::string("c3k2"));
    auto c4 = goro::with_value(c3, key1{1}, static_cast<const char*>(nullptr));
    CHECK(c0.value<std::string>(key1{1}) == nullptr);
    CHECK(*c1.value<std::string>(key1{1}) == "c1k1");
    CHECK(c1.value<std::string>(key2{1}) == nullptr);  // same int, another key type
    CHECK(*c2.value<std::string>(key2{1}) == "c2k2");
    CHECK(*c3.value<std::string>(key2{1}) == "c3k2");  // nearest wins
    CHECK(*c3.value<std::string>(key1{1}) == "c1k1");
    CHECK(c4.value<std::string>(key1{1}) == nullptr);   // shadowed by a null value
    REQUIRE(c4.value<const char*>(key1{1}) != nullptr);
    CHECK(*c4.value<const char*>(key1{1}) == nullptr);
    CHECK(c3.value<std::string>(key1{2}) == nullptr);
}

TEST_CASE("sleep(d, ctx): full sleep, cancelled, deadline, already done", "[ctx][timer]") {
    for (unsigned procs : {1u, 2u}) {
        auto main_task = []() -> goro::task<int> {
            auto bg = goro::background();
            const auto t0 = clk::now();
            if (co_await goro::sleep(20ms, bg)) co_return 1;
            if (ms_since(t0) < 19) co_return 2;

            auto [c, cancel] = goro::with_cancel(bg);
            goro::go([](goro::cancel_func f) -> goro::task<> {
                co_await goro::sleep(10ms);
                f();
            }(cancel));
            if (co_await goro::sleep(1h, c) != goro::context_errc::canceled) co_return 3;  // not the hour
            if (co_await goro::sleep(1h, c) != goro::context_errc::canceled) co_return 5;  // already done

            auto [t, tcancel] = goro::with_timeout(bg, 15ms);
            if (co_await goro::sleep(1h, t) != goro::context_errc::deadline_exceeded) co_return 6;
            co_return 0;
        };
        REQUIRE(goro::run(main_task(), {.procs = procs}) == 0);
    }
}

TEST_CASE("sleep(d, ctx) stress: timer and cancel race", "[ctx][stress]") {
    for (unsigned procs : {1u, 4u}) {
        goro_test::watchdog dog("sleep ctx stress", 60s);
        auto main_task = []() -> goro::task<int> {
            goro::wait_group wg;
            std::atomic<int> bad{0};
            for (int i = 0; i < 200 / k_div; ++i) {
                wg.add(1);
                goro::go([](goro::wait_group& w, std::atomic<int>& b) -> goro::task<> {
                    for (int k = 0; k < 20; ++k) {
                        auto [c, cancel] = goro::with_cancel(goro::background());
                        goro::go([](goro::cancel_func f) -> goro::task<> {
                            co_await goro::sleep(50us);
                            f();
                        }(cancel));
                        auto e = co_await goro::sleep(50us, c);
                        if (e && e != goro::context_errc::canceled) b.fetch_add(1);
                    }
                    w.done();
                }(wg, bad));
            }
            co_await wg.wait();
            co_return bad.load();
        };
        REQUIRE(goro::run(main_task(), {.procs = procs}) == 0);
    }
}

TEST_CASE("item 38: context-bounded semaphore acquire; a failed acquire leaves it unchanged", "[ctx][sync]") {
    auto main_task = []() -> goro::task<int> {
        goro::semaphore sem(2);
        auto [c, cancel] = goro::with_timeout(goro::background(), 10ms);
        if (co_await sem.acquire(1, c)) co_return 1;
        if (co_await sem.acquire(1, c)) co_return 2;
        if (co_await sem.acquire(1, c) != goro::context_errc::deadline_exceeded) co_return 3;
        sem.release(2);
        if (!sem.try_acquire(2)) co_return 5;  // the failed acquire took nothing
        sem.release(2);
        // A big request only fails through its context.
        auto [c2, cancel2] = goro::with_timeout(goro::background(), 10ms);
        if (co_await sem.acquire(3, c2) != goro::context_errc::deadline_exceeded) co_return 6;
        co_return 0;
    };
    REQUIRE(goro::run(main_task(), {.procs = 2}) == 0);
}

TEST_CASE("item 42: cancelling a queued large waiter wakes the smaller ones behind it", "[ctx][sync]") {
    auto main_task = []() -> goro::task<int> {
        goro::semaphore sem(10);
        co_await sem.acquire(1);
        auto [c, cancel] = goro::with_timeout(goro::background(), 300ms);
        auto big = goro::spawn([](goro::semaphore& s, goro::context ctx) -> goro::task<std::error_code> {
            co_return co_await s.acquire(10, ctx);
        }(sem, c));
        co_await goro::sleep(100ms);
        // A hang guard only (far above any delay of a noisy machine): without
        // the wake-up the acquire would fail when it expires.
        auto [c2, cancel2] = goro::with_timeout(goro::background(), 10s);
        if (co_await sem.acquire(1, c2)) co_return 1;  // must succeed once the big one gives up
        if ((co_await std::move(big)) != goro::context_errc::deadline_exceeded) co_return 3;
        sem.release(2);
        co_return sem.try_acquire(10) ? 0 : 4;
    };
    REQUIRE(goro::run(main_task(), {.procs = 2}) == 0);
}

TEST_CASE("semaphore acquire with context: grant/cancel race stress", "[ctx][sync][stress]") {
    for (unsigned procs : {1u, 4u}) {
        goro_test::watchdog dog("sem ctx stress", 60s);
        auto main_task = []() -> goro::task<int> {
            goro::semaphore sem(3);
            goro::wait_group wg;
            std::atomic<long> held{0};
            std::atomic<int> bad{0};
            for (int i = 0; i < 16; ++i) {
                wg.add(1);
                goro::go([](goro::semaphore& s, goro::wait_group& w, std::atomic<long>& h,
                            std::atomic<int>& b) -> goro::task<> {
                    for (int k = 0; k < 300 / k_div; ++k) {
                        auto [c, cancel] = goro::with_cancel(goro::background());
                        if (k % 2) cancel();
                        auto e = co_await s.acquire(1, c);
                        if (!e) {
                            if (h.fetch_add(1) + 1 > 3) b.fetch_add(1);
                            co_await goro::yield();
                            h.fetch_sub(1);
                            s.release(1);
                        } else if (e != goro::context_errc::canceled) {
                            b.fetch_add(1);
                        }
                    }
                    w.done();
                }(sem, wg, held, bad));
            }
            co_await wg.wait();
            co_return bad.load() == 0 && sem.try_acquire(3) ? 0 : 1;
        };
        REQUIRE(goro::run(main_task(), {.procs = procs}) == 0);
    }
}

TEST_CASE("item 60: after_func(ctx, f): after cancel, after timeout, immediately, not after stop, async", "[ctx]") {
    auto main_task = []() -> goro::task<int> {
        {  // TestAfterFuncCalledAfterCancel
            auto [c, cancel] = goro::with_cancel(goro::background());
            goro::chan<int> ran(1);
            auto h = goro::after_func(c, [ran] { (void)ran.try_send(1); });
            co_await goro::sleep(5ms);
            if (ran.try_recv()) co_return 1;
            cancel();
            co_await ran.recv();
            if (h.stop()) co_return 2;  // already started
        }
        {  // TestAfterFuncCalledAfterTimeout
            auto [c, cancel] = goro::with_timeout(goro::background(), 5ms);
            goro::chan<int> ran(1);
            auto h = goro::after_func(c, [ran]() -> goro::task<> { co_await ran.send(1); });
            co_await ran.recv();
        }
        {  // TestAfterFuncCalledImmediately
            auto [c, cancel] = goro::with_cancel(goro::background());
            cancel();
            goro::chan<int> ran(1);
            auto h = goro::after_func(c, [ran] { (void)ran.try_send(1); });
            co_await ran.recv();
        }
        {  // TestAfterFuncNotCalledAfterStop
            auto [c, cancel] = goro::with_cancel(goro::background());
            std::atomic<bool> ran{false};
            auto h = goro::after_func(c, [&] { ran.store(true); });
            if (!h.stop()) co_return 3;
            if (h.stop()) co_return 4;  // second stop: false
            cancel();
            co_await goro::sleep(5ms);
            if (ran.load()) co_return 5;
        }
        {  // TestAfterFuncCalledAsynchronously: f blocks on an unbuffered send; cancel returns anyway
            auto [c, cancel] = goro::with_cancel(goro::background());
            goro::chan<int> unbuffered;
            auto h = goro::after_func(c, [unbuffered]() -> goro::task<> { co_await unbuffered.send(1); });
            cancel();  // must not wait for f
            co_await unbuffered.recv();
        }
        co_return 0;
    };
    REQUIRE(goro::run(main_task(), {.procs = 2}) == 0);
}

TEST_CASE("item 22 (ctx): tasks parked in sleep(d, ctx) and acquire(n, ctx) are destroyed cleanly", "[ctx]") {
    static goro::semaphore* sem = nullptr;
    sem = new goro::semaphore(1);
    auto main_task = []() -> goro::task<int> {
        auto [c, cancel] = goro::with_cancel(goro::background());
        co_await sem->acquire(1);
        for (int i = 0; i < 4; ++i) {
            goro::go([](goro::context ctx) -> goro::task<> { (void)co_await goro::sleep(1h, ctx); }(c));
            goro::go([](goro::context ctx) -> goro::task<> { (void)co_await sem->acquire(1, ctx); }(c));
            goro::go([](goro::context ctx) -> goro::task<> { (void)co_await sem->acquire(9, ctx); }(c));
        }
        co_await goro::sleep(5ms);
        co_return 0;  // the context is never cancelled; the parked frames unregister themselves
    };
    REQUIRE(goro::run(main_task(), {.procs = 2}) == 0);
    delete sem;
    sem = nullptr;
}

TEST_CASE("item 60: a cancel outside goro::run drops an after_func's f instead of ending the program", "[ctx]") {
    // A goro::signal delivery can cancel a context between two runs: f then
    // has no runtime to start on.
    auto token = std::make_shared<int>(0);
    {
        auto [c, cancel] = goro::with_cancel(goro::background());
        auto h = goro::after_func(c, [tok = token] { ++*tok; });
        cancel();
        CHECK(*token == 0);
        CHECK_FALSE(h.stop());  // it was started (and dropped), not stopped
    }
    CHECK(token.use_count() == 1);  // every copy of f is gone
}

TEST_CASE("item 60: an after_func(ctx, f) that never runs leaks nothing (ASan: detect_leaks)", "[ctx]") {
    // Go's GC collects an AfterFunc whose context can never be done; goro must
    // free the record and f (and what f captured) once nothing can cancel the
    // context. The token counts the copies of f still alive.
    auto token = std::make_shared<int>(0);
    auto main_task = [](std::shared_ptr<int> tok) -> goro::task<int> {
        {  // a context that can never be done: nothing registered, f never runs
            auto h = goro::after_func(goro::background(), [tok] { ++*tok; });
            (void)h;
        }
        {  // cancellable, dropped uncancelled (Go vet's lostcancel): f dropped with the node
            auto [c, cancel] = goro::with_cancel(goro::background());
            auto h = goro::after_func(c, [tok] { ++*tok; });
            (void)h;
        }
        {  // a deadline an hour away, dropped: the deadline timer is stopped with the node
            auto [c, cancel] = goro::with_timeout(goro::background(), 1h);
            auto h = goro::after_func(c, [tok] { ++*tok; });
        }
        {  // the handle dropped first, the context later: still freed
            const long base = tok.use_count();
            auto [c, cancel] = goro::with_cancel(goro::background());
            { auto h = goro::after_func(c, [tok] { ++*tok; }); }
            if (tok.use_count() != base + 1) co_return 1;  // still registered: f may yet run
        }
        {  // a stop() after the node died: true (f was prevented), and no double release
            std::optional<goro::context_after_func> h;
            {
                auto [c, cancel] = goro::with_cancel(goro::background());
                h.emplace(goro::after_func(c, [tok] { ++*tok; }));
            }
            if (!h->stop()) co_return 2;
            if (h->stop()) co_return 3;
        }
        // Still registered when the runtime shuts down: the parked task's
        // frame (context, cancel func, handle) is destroyed by run().
        goro::chan<int> armed(1);
        goro::go([](std::shared_ptr<int> t, goro::chan<int> a) -> goro::task<> {
            auto [c, cancel] = goro::with_cancel(goro::background());
            auto h = goro::after_func(c, [t] { ++*t; });
            co_await a.send(1);
            co_await goro::chan<int>::nil().recv();  // parked until shutdown
        }(tok, armed));
        co_await armed.recv();
        co_return *tok;  // f never ran
    };
    REQUIRE(goro::run(main_task(token), {.procs = 2}) == 0);
    REQUIRE(token.use_count() == 1);  // every copy of every f was destroyed
}
