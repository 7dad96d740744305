// goro::select — docs/go-behaviours.md, section E (items 14–22) and the select
// variants of items 3 and 10.
//
// NB: never co_await inside REQUIRE(): Catch's macro repeats the expression in
// an operand that is not evaluated at run time, and GCC's coroutine lowering
// still awaits it.
#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include <goro/goro.hpp>

#include "support/child_process.hpp"
#include "support/watchdog.hpp"

using namespace std::chrono_literals;
using goro::chan;
using goro::task;

namespace {

constexpr int k_scale = goro_test::stress_divisor;  // sanitizer builds: 10x fewer iterations

const unsigned k_procs[] = {1, 2, 4};

template <typename T>
T run_on(task<T> t, unsigned procs = 2) {
    return goro::run(std::move(t), {.procs = procs});
}

}  // namespace

TEST_CASE("select basics: recv, send, default, timeout, index and callbacks", "[select]") {
    run_on([]() -> task<> {
        chan<int> a(1), b(1);
        int got = -1;
        REQUIRE(a.try_send(5));
        int i = co_await goro::select(a.recv_case([&](std::optional<int> v) { got = *v; }), b.recv_case());
        REQUIRE(i == 0);
        REQUIRE(got == 5);
        bool sent = false;
        i = co_await goro::select(a.recv_case(), b.send_case(9, [&] { sent = true; }));
        REQUIRE(i == 1);
        REQUIRE(sent);
        REQUIRE(b.len() == 1);
        bool dflt = false;
        i = co_await goro::select(a.recv_case(), goro::default_case([&] { dflt = true; }));
        REQUIRE(i == 1);
        REQUIRE(dflt);
        bool timed_out = false;
        const auto start = std::chrono::steady_clock::now();
        i = co_await goro::select(a.recv_case(), goro::timeout_case(20ms, [&] { timed_out = true; }));
        REQUIRE(i == 1);
        REQUIRE(timed_out);
        REQUIRE(std::chrono::steady_clock::now() - start >= 20ms);
        // a blocked select woken by a sender from another task
        goro::go([](chan<int> a) -> task<> {
            co_await goro::sleep(1ms);
            co_await a.send(77);
        }(a));
        i = co_await goro::select(a.recv_case([&](std::optional<int> v) { got = *v; }), goro::timeout_case(10s));
        REQUIRE(i == 0);
        REQUIRE(got == 77);
        // a blocked select send woken by a receiver
        chan<int> u;
        goro::go([](chan<int> u) -> task<> {
            co_await goro::sleep(1ms);
            auto v = co_await u.recv();
            co_await u.send(*v + 1);
        }(u));
        i = co_await goro::select(u.send_case(41), a.recv_case());
        REQUIRE(i == 0);
        auto back = co_await u.recv();
        REQUIRE(*back == 42);
    }());
}

TEST_CASE("item 14: a nil-channel case never fires, but its send value is evaluated", "[select]") {
    run_on([]() -> task<> {
        auto nil = chan<int>::nil();
        chan<int> ready(1);
        for (int k = 0; k < 1000; ++k) {
            REQUIRE(ready.try_send(k));
            int i = co_await goro::select(nil.recv_case(), ready.recv_case());
            REQUIRE(i == 1);
        }
        int evaluated = 0;
        auto value = [&] { return ++evaluated; };
        for (int k = 0; k < 100; ++k) {
            REQUIRE(ready.try_send(k));
            int i = co_await goro::select(nil.send_case(value()), ready.recv_case());
            REQUIRE(i == 1);
        }
        REQUIRE(evaluated == 100);
        // a nil case with a default: the default wins
        int i = co_await goro::select(nil.recv_case(), nil.send_case(1), goro::default_case());
        REQUIRE(i == 2);
    }());
}

TEST_CASE("item 15: select {} and all-nil selects block forever while others run", "[select]") {
    run_on([]() -> task<> {
        std::atomic<int> finished{0};
        goro::go([](std::atomic<int>* f) -> task<> {
            co_await goro::select();
            f->fetch_add(1);
        }(&finished));
        goro::go([](std::atomic<int>* f) -> task<> {
            co_await goro::select(chan<int>::nil().recv_case(), chan<int>::nil().send_case(1));
            f->fetch_add(1);
        }(&finished));
        int ticks = 0;
        for (int k = 0; k < 20; ++k) {
            co_await goro::sleep(5ms);
            ++ticks;
        }
        REQUIRE(ticks == 20);
        REQUIRE(finished.load() == 0);
    }());
}

TEST_CASE("item 15: select {} alone in the program is reported as a deadlock", "[select][deadlock]") {
    auto r = goro_test::run_in_child(
        [] {
            goro::run([]() -> task<> { co_await goro::select(); }(), {.procs = 2});
            return 0;  // not reached: the deadlock report exits with status 2
        },
        20s);
    REQUIRE_FALSE(r.timed_out);
    REQUIRE(r.exit_status == 2);
    REQUIRE(r.stderr_text.find("all goroutines are asleep - deadlock!") != std::string::npos);
    REQUIRE(r.stderr_text.find("select (no cases)") != std::string::npos);
    r = goro_test::run_in_child(
        [] {
            goro::run([]() -> task<> { co_await goro::select(chan<int>::nil().recv_case()); }(), {.procs = 1});
            return 0;
        },
        20s);
    REQUIRE_FALSE(r.timed_out);
    REQUIRE(r.exit_status == 2);
    REQUIRE(r.stderr_text.find("all goroutines are asleep - deadlock!") != std::string::npos);
}

TEST_CASE("item 16: operands and send values evaluated once, in order; losing recv targets untouched", "[select]") {
    run_on([]() -> task<> {
        chan<int> c1, c2;
        std::string log;
        auto ch = [&](chan<int>& c, const char* name) -> chan<int>& {
            log += name;
            log += ',';
            return c;
        };
        auto val = [&](int v, const char* name) {
            log += name;
            log += ',';
            return v;
        };
        goro::go([](chan<int> c2) -> task<> {
            co_await goro::sleep(1ms);
            auto v = co_await c2.recv();
            (void)v;
        }(c2));
        int untouched = -1;
        int i = co_await goro::select{ch(c1, "c1").send_case(val(1, "v1")), ch(c2, "c2").send_case(val(2, "v2")),
                                      ch(c1, "c3").recv_case([&](std::optional<int> v) { untouched = v.value_or(-2); })};
        REQUIRE(i == 1);
        REQUIRE(log == "c1,v1,c2,v2,c3,");
        REQUIRE(untouched == -1);
    }());
}

TEST_CASE("item 17 [HARD]: ready cases are chosen uniformly at random", "[select][stress]") {
    for (unsigned procs : {1u, 2u}) {
        run_on(
            []() -> task<> {
                chan<int> a(1), b(1), never1, never2;
                int wins[4] = {};
                for (int k = 0; k < 10'000; ++k) {
                    (void)a.try_send(1);
                    (void)b.try_send(1);
                    int i = co_await goro::select(never1.recv_case(), a.recv_case(), never2.recv_case(), b.recv_case());
                    ++wins[i];
                }
                REQUIRE(wins[0] == 0);
                REQUIRE(wins[2] == 0);
                REQUIRE(wins[1] >= 4500);
                REQUIRE(wins[1] <= 5500);
                REQUIRE(wins[1] + wins[3] == 10'000);
                // three ready cases
                chan<int> c(1);
                int three[3] = {};
                for (int k = 0; k < 9'000; ++k) {
                    (void)a.try_send(1);
                    (void)b.try_send(1);
                    (void)c.try_send(1);
                    ++three[co_await goro::select(a.recv_case(), b.recv_case(), c.recv_case())];
                }
                for (int w : three) {
                    REQUIRE(w >= 3000 - 450);
                    REQUIRE(w <= 3000 + 450);
                }
                // send cases too (TestPseudoRandomSend)
                chan<int> s(1);
                int ones = 0;
                for (int k = 0; k < 100; ++k) {
                    co_await goro::select(s.send_case(0), s.send_case(1));
                    auto v = co_await s.recv();
                    ones += *v;
                }
                REQUIRE(ones > 10);
                REQUIRE(ones < 90);
            }(),
            procs);
    }
}

TEST_CASE("item 18: default runs only when nothing is ready, and never suspends", "[select]") {
    run_on([]() -> task<> {
        chan<int> a, b(2);
        int defaults = 0;
        for (int k = 0; k < 10'000; ++k) {
            int i = co_await goro::select(a.recv_case(), b.recv_case(), goro::default_case());
            defaults += (i == 2);
        }
        REQUIRE(defaults == 10'000);
        REQUIRE(b.try_send(1));
        int i = co_await goro::select(a.recv_case(), b.recv_case(), goro::default_case());
        REQUIRE(i == 1);
        a.close();
        for (int k = 0; k < 1000; ++k) {
            i = co_await goro::select(a.recv_case(), goro::default_case());
            REQUIRE(i == 0);
        }
    }());
}

namespace {
task<> select_receiver(chan<int> a, chan<int> b, int rounds, std::atomic<long>* received) {
    for (int k = 0; k < rounds; ++k) {
        int i = co_await goro::select(a.recv_case(), b.recv_case());
        (void)i;
        received->fetch_add(1);
    }
}
task<> plain_sender(chan<int> c, std::atomic<long>* budget, std::atomic<long>* sent) {
    // Sends until the shared budget is spent (the budget equals the receiver's rounds).
    while (budget->fetch_sub(1) > 0) {
        co_await c.send(1);
        sent->fetch_add(1);
    }
}
}  // namespace

TEST_CASE("item 19 [HARD]: a parked select completes exactly one case", "[select][stress]") {
    for (unsigned procs : k_procs) {
        const int rounds = 10'000 / k_scale;
        std::atomic<long> received{0}, sent{0}, budget{rounds};
        run_on(
            [](int rounds, std::atomic<long>* received, std::atomic<long>* sent, std::atomic<long>* budget) -> task<> {
                chan<int> a, b;
                auto h = goro::spawn(select_receiver(a, b, rounds, received));
                goro::group g;
                g.go(plain_sender(a, budget, sent));
                g.go(plain_sender(b, budget, sent));
                co_await std::move(h);
                co_await g.wait();
                // Every send completed exactly once; no select double-completed.
                if (a.len() != 0 || b.len() != 0) throw std::runtime_error("unbuffered len");
            }(rounds, &received, &sent, &budget),
            procs);
        REQUIRE(received.load() == rounds);
        REQUIRE(sent.load() == rounds);
    }
}

TEST_CASE("item 20: a closed recv case is ready; a chosen closed send case throws", "[select]") {
    run_on([]() -> task<> {
        chan<int> closed, ready(1);
        closed.close();
        int thrown = 0, received = 0;
        for (int k = 0; k < 1000; ++k) {
            (void)ready.try_send(1);
            try {
                int i = co_await goro::select(closed.send_case(1), ready.recv_case());
                if (i == 1) ++received;
            } catch (const goro::channel_closed& e) {
                if (std::string(e.what()) == "send on closed channel") ++thrown;
            }
        }
        REQUIRE(thrown + received == 1000);
        REQUIRE(thrown > 350);
        REQUIRE(received > 350);
        std::optional<int> v = 5;
        int i = co_await goro::select(closed.recv_case([&](std::optional<int> x) { v = x; }));
        REQUIRE(i == 0);
        REQUIRE_FALSE(v.has_value());
    }());
}

TEST_CASE("item 10 (select) [HARD]: close wakes senders and receivers parked in select", "[select][stress]") {
    for (unsigned procs : k_procs) {
        run_on(
            []() -> task<> {
                for (int round = 0; round < 20; ++round) {
                    chan<int> full(1), other;
                    co_await full.send(0);
                    std::vector<goro::join_handle<int>> hs;
                    for (int k = 0; k < 10; ++k)
                        hs.push_back(goro::spawn([](chan<int> full, chan<int> other) -> task<int> {
                            try {
                                co_await goro::select(full.send_case(1), other.recv_case());
                            } catch (const goro::channel_closed&) {
                                co_return 1;
                            }
                            co_return 0;
                        }(full, other)));
                    for (int k = 0; k < 10; ++k)
                        hs.push_back(goro::spawn([](chan<int> other) -> task<int> {
                            std::optional<int> v = 1;
                            co_await goro::select(other.recv_case([&](std::optional<int> x) { v = x; }),
                                                  chan<int>::nil().recv_case());
                            co_return v ? 0 : 2;
                        }(other)));
                    co_await goro::yield();
                    full.close();
                    other.close();
                    int sum = 0;
                    for (auto& h : hs) sum += co_await std::move(h);
                    // each of the first 10 either threw (1) or got other's close (0); the last 10 got nullopt (2)
                    if (sum < 20 || sum > 30) throw std::runtime_error("close did not wake select correctly");
                    if (!full.debug_check() || !other.debug_check()) throw std::runtime_error("invariants");
                }
            }(),
            procs);
    }
}

TEST_CASE("item 21 [HARD]: chaotic mix of plain and select senders/receivers (TestSelectStress)", "[select][stress]") {
    for (unsigned procs : k_procs) {
        const int n = 100'000 / k_scale / (k_scale > 1 ? 4 : 1);
        std::atomic<long> counts[4] = {};
        run_on(
            [](int n, std::atomic<long>* counts) -> task<> {
                chan<int> c[4] = {chan<int>(0), chan<int>(0), chan<int>(2), chan<int>(3)};
                goro::group g;
                // 4 plain senders, 4 plain receivers, n items each.
                for (int k = 0; k < 4; ++k) {
                    g.go([](chan<int> c, int n) -> task<> {
                        for (int i = 0; i < n; ++i) co_await c.send(i);
                    }(c[k], n));
                    g.go([](chan<int> c, int n, std::atomic<long>* cnt) -> task<> {
                        for (int i = 0; i < n; ++i) {
                            co_await c.recv();
                            cnt->fetch_add(1);
                        }
                    }(c[k], n, &counts[k]));
                }
                // one select sender: n to each channel, nil-ing finished cases
                g.go([](chan<int> c0, chan<int> c1, chan<int> c2, chan<int> c3, int n) -> task<> {
                    chan<int> c[4] = {c0, c1, c2, c3};
                    int left[4] = {n, n, n, n};
                    while (left[0] + left[1] + left[2] + left[3] > 0) {
                        int i = co_await goro::select(c[0].send_case(1), c[1].send_case(1), c[2].send_case(1),
                                                      c[3].send_case(1));
                        if (--left[i] == 0) c[i] = chan<int>::nil();
                    }
                }(c[0], c[1], c[2], c[3], n));
                // one select receiver: n from each channel
                g.go([](chan<int> c0, chan<int> c1, chan<int> c2, chan<int> c3, int n,
                        std::atomic<long>* counts) -> task<> {
                    chan<int> c[4] = {c0, c1, c2, c3};
                    int left[4] = {n, n, n, n};
                    while (left[0] + left[1] + left[2] + left[3] > 0) {
                        int i = co_await goro::select(c[0].recv_case(), c[1].recv_case(), c[2].recv_case(),
                                                      c[3].recv_case());
                        counts[i].fetch_add(1);
                        if (--left[i] == 0) c[i] = chan<int>::nil();
                    }
                }(c[0], c[1], c[2], c[3], n, counts));
                co_await g.wait();
                for (auto& ch : c)
                    if (!ch.debug_check() || ch.len() != 0) throw std::runtime_error("leftover");
            }(n, counts),
            procs);
        for (auto& k : counts) REQUIRE(k.load() == 2L * n);
    }
}

namespace {
struct payload {
    std::uint64_t a, check;
    bool ok() const { return check == (a * 31 + 7); }
};
}  // namespace

TEST_CASE("item 3 (select) [HARD]: select-send hand-off of heap objects is intact", "[select][stress]") {
    const int workers = 100;
    const int per = 100'000 / k_scale / (k_scale > 1 ? 10 : 1);
    std::atomic<long> corrupt{0}, total{0};
    run_on(
        [](int workers, int per, std::atomic<long>* corrupt, std::atomic<long>* total) -> task<> {
            chan<std::unique_ptr<payload>> c;
            chan<int> never;
            goro::group g;
            for (int k = 0; k < workers; ++k)
                g.go([](chan<std::unique_ptr<payload>> c, chan<int> never, int per) -> task<> {
                    for (int i = 0; i < per; ++i) {
                        auto p = std::make_unique<payload>();
                        p->a = static_cast<std::uint64_t>(i);
                        p->check = p->a * 31 + 7;
                        co_await goro::select(c.send_case(std::move(p)), never.recv_case());
                    }
                }(c, never, per));
            for (int k = 0; k < 2; ++k)
                g.go([](chan<std::unique_ptr<payload>> c, long n, std::atomic<long>* corrupt,
                        std::atomic<long>* total) -> task<> {
                    for (long i = 0; i < n; ++i) {
                        std::unique_ptr<payload> got;
                        co_await goro::select(c.recv_case([&](auto v) { got = std::move(*v); }));
                        if (!got || !got->ok()) corrupt->fetch_add(1);
                        total->fetch_add(1, std::memory_order_relaxed);
                    }
                }(c, static_cast<long>(workers) * per / 2, corrupt, total));
            co_await g.wait();
        }(workers, per, &corrupt, &total),
        2);
    REQUIRE(corrupt.load() == 0);
    REQUIRE(total.load() == static_cast<long>(workers) * per);
}

TEST_CASE("item 22 [HARD]: a parked select destroyed at shutdown leaves no registration", "[select][stress]") {
    for (unsigned procs : k_procs) {
        chan<int> a, b(1);
        run_on(
            [](chan<int> a, chan<int> b) -> task<> {
                REQUIRE(b.try_send(0));  // b full: a send case on it blocks
                for (int k = 0; k < 20; ++k) {
                    goro::go([](chan<int> a, chan<int> b) -> task<> {
                        co_await goro::select(a.recv_case(), b.send_case(1), goro::timeout_case(1h));
                    }(a, b));
                }
                co_await goro::sleep(2ms);
            }(a, b),
            procs);
        // After shutdown the channels behave as if nobody waited.
        REQUIRE(a.debug_check());
        REQUIRE(b.debug_check());
        REQUIRE_FALSE(a.try_send(1));
        auto r = b.try_recv();
        REQUIRE(*r.value == 0);
        REQUIRE(b.try_send(2));
    }
    // A send value whose case is not chosen is destroyed with the select (documented: values are moved in).
    run_on([]() -> task<> {
        chan<std::unique_ptr<int>> full(1);
        chan<int> ready(1);
        co_await full.send(std::make_unique<int>(0));
        REQUIRE(ready.try_send(1));
        auto p = std::make_unique<int>(5);
        int i = co_await goro::select(full.send_case(std::move(p)), ready.recv_case());
        REQUIRE(i == 1);
        REQUIRE(full.len() == 1);
    }());
}

TEST_CASE("select timeout: a pure timeout, and a winner racing the timer", "[select][stress]") {
    for (unsigned procs : k_procs) {
        run_on(
            []() -> task<> {
                int i = co_await goro::select(goro::timeout_case(1ms));
                REQUIRE(i == 0);
                chan<int> c;
                int wins[2] = {};
                for (int k = 0; k < 200 / (k_scale > 1 ? 4 : 1); ++k) {
                    goro::go([](chan<int> c) -> task<> {
                        co_await goro::sleep(std::chrono::microseconds(100));
                        (void)c.try_send(1);
                    }(c));
                    ++wins[co_await goro::select(c.recv_case(), goro::timeout_case(std::chrono::microseconds(100)))];
                }
                REQUIRE(wins[0] + wins[1] == 200 / (k_scale > 1 ? 4 : 1));
            }(),
            procs);
    }
}
