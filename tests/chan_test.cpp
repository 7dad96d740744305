// goro::chan — docs/go-behaviours.md, sections A–D (items 1–13, 15, 22) and the
// channel invariants of chan.go.
//
// NB: never co_await inside REQUIRE(): Catch's macro repeats the expression in
// an operand that is not evaluated at run time, and GCC's coroutine lowering
// still awaits it.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <random>
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

task<> recv_into(chan<int> c, std::atomic<int>* done, std::atomic<int>* got) {
    auto v = co_await c.recv();
    if (v) got->fetch_add(*v);
    done->fetch_add(1);
}

task<> send_then_flag(chan<int> c, int v, std::atomic<int>* flag) {
    co_await c.send(v);
    flag->fetch_add(1);
}

}  // namespace

TEST_CASE("item 1: receive on an empty channel blocks; try_recv reports empty", "[chan]") {
    run_on([]() -> task<> {
        for (int cap : {0, 1, 2, 7, 200}) {
            chan<int> c(cap);
            std::atomic<int> done{0}, got{0};
            goro::go(recv_into(c, &done, &got));
            goro::go(recv_into(c, &done, &got));
            co_await goro::sleep(1ms);
            REQUIRE(done.load() == 0);
            REQUIRE(c.try_recv().status == goro::recv_status::empty);
            co_await c.send(1);
            co_await c.send(2);
            while (done.load() != 2) co_await goro::sleep(100us);
            REQUIRE(got.load() == 3);
        }
    }());
}

TEST_CASE("item 2: an unbuffered send completes only when received; try_send fails without receiver", "[chan]") {
    for (unsigned procs : k_procs) {
        run_on(
            []() -> task<> {
                chan<int> c;
                std::atomic<int> flag{0};
                goro::go(send_then_flag(c, 7, &flag));
                co_await goro::sleep(1ms);
                REQUIRE(flag.load() == 0);
                REQUIRE_FALSE(c.try_send(8));
                auto v = co_await c.recv();
                REQUIRE(v == 7);
                while (flag.load() != 1) co_await goro::sleep(100us);
            }(),
            procs);
    }
}

namespace {
struct payload {
    std::uint64_t a, b, check;
    static std::unique_ptr<payload> make(std::uint64_t x) {
        auto p = std::make_unique<payload>();
        p->a = x * 0x9E3779B97F4A7C15ull;
        p->b = ~x;
        p->check = p->a ^ (p->b * 31);
        return p;
    }
    bool ok() const { return check == (a ^ (b * 31)); }
};

task<> handoff_sender(chan<std::unique_ptr<payload>> c, int n, int* shared_plain, chan<int> back) {
    for (int i = 0; i < n; ++i) {
        co_await c.send(payload::make(static_cast<std::uint64_t>(i)));
        co_await back.recv();  // the receiver wrote *shared_plain before its send
        if (*shared_plain != i) throw std::runtime_error("memory model: stale plain write");
    }
}

task<> handoff_receiver(chan<std::unique_ptr<payload>> c, int n, int* shared_plain, chan<int> back,
                        std::atomic<long>* corrupt) {
    for (int i = 0; i < n; ++i) {
        auto p = co_await c.recv();
        if (!p || !*p || !(*p)->ok()) corrupt->fetch_add(1);
        *shared_plain = i;  // plain write, published by the unbuffered send below
        co_await back.send(i);
    }
}
}  // namespace

TEST_CASE("item 3 [HARD]: hand-off publishes the value; heap objects arrive intact", "[chan][stress]") {
    // 100 pairs x 100k hand-offs in release (10k under sanitizers); each object
    // carries a checksum, and each round checks a plain int written before the
    // unbuffered send that completes it.
    const int pairs = 100;
    const int per = 100'000 / k_scale / 10;  // 10k per pair: x100 pairs x2 channels = 2M hand-offs
    for (unsigned procs : k_procs) {
        std::atomic<long> corrupt{0};
        run_on(
            [](int pairs, int per, std::atomic<long>* corrupt) -> task<> {
                std::vector<int> plains(static_cast<std::size_t>(pairs));
                goro::group g;
                for (int k = 0; k < pairs; ++k) {
                    chan<std::unique_ptr<payload>> c;
                    chan<int> back;
                    g.go(handoff_sender(c, per, &plains[static_cast<std::size_t>(k)], back));
                    g.go(handoff_receiver(c, per, &plains[static_cast<std::size_t>(k)], back, corrupt));
                }
                co_await g.wait();
            }(pairs, per, &corrupt),
            procs);
        REQUIRE(corrupt.load() == 0);
    }
}

TEST_CASE("item 3 [HARD]: 100 x 100k plain hand-offs of heap objects with checksum", "[chan][stress]") {
    const int workers = 100;
    const int per = 100'000 / k_scale / (k_scale > 1 ? 10 : 1);
    std::atomic<long> corrupt{0}, total{0};
    run_on(
        [](int workers, int per, std::atomic<long>* corrupt, std::atomic<long>* total) -> task<> {
            chan<std::unique_ptr<payload>> c;
            goro::group g;
            for (int k = 0; k < workers; ++k)
                g.go([](chan<std::unique_ptr<payload>> c, int per) -> task<> {
                    for (int i = 0; i < per; ++i) co_await c.send(payload::make(static_cast<std::uint64_t>(i)));
                }(c, per));
            for (int k = 0; k < 2; ++k)
                g.go([](chan<std::unique_ptr<payload>> c, long n, std::atomic<long>* corrupt,
                        std::atomic<long>* total) -> task<> {
                    for (long i = 0; i < n; ++i) {
                        auto p = co_await c.recv();
                        if (!p || !*p || !(*p)->ok()) corrupt->fetch_add(1);
                        total->fetch_add(1, std::memory_order_relaxed);
                    }
                }(c, static_cast<long>(workers) * per / 2, corrupt, total));
            co_await g.wait();
        }(workers, per, &corrupt, &total),
        2);
    REQUIRE(corrupt.load() == 0);
    REQUIRE(total.load() == static_cast<long>(workers) * per);
}

TEST_CASE("item 4: FIFO from one producer; multiset preserved with 4x4", "[chan]") {
    for (unsigned procs : k_procs) {
        run_on(
            []() -> task<> {
                for (int cap : {0, 1, 10, 99, 200}) {
                    chan<int> c(cap);
                    goro::go([](chan<int> c) -> task<> {
                        for (int i = 0; i < 100; ++i) co_await c.send(i);
                    }(c));
                    for (int i = 0; i < 100; ++i) {
                        auto v = co_await c.recv();
                        REQUIRE(*v == i);
                    }
                }
                for (int cap : {0, 3, 200}) {
                    chan<int> c(cap);
                    chan<std::vector<int>> results;
                    for (int p = 0; p < 4; ++p)
                        goro::go([](chan<int> c) -> task<> {
                            for (int i = 0; i < 1000; ++i) co_await c.send(i);
                        }(c));
                    for (int k = 0; k < 4; ++k)
                        goro::go([](chan<int> c, chan<std::vector<int>> out) -> task<> {
                            std::vector<int> seen(1000);
                            for (int i = 0; i < 1000; ++i) ++seen[static_cast<std::size_t>(*co_await c.recv())];
                            co_await out.send(std::move(seen));
                        }(c, results));
                    std::vector<int> all(1000);
                    for (int k = 0; k < 4; ++k) {
                        auto v = co_await results.recv();
                        for (int i = 0; i < 1000; ++i) all[static_cast<std::size_t>(i)] += (*v)[static_cast<std::size_t>(i)];
                    }
                    for (int i = 0; i < 1000; ++i) REQUIRE(all[static_cast<std::size_t>(i)] == 4);
                }
            }(),
            procs);
    }
}

TEST_CASE("item 5: buffered sends do not block until full; len and cap", "[chan]") {
    run_on([]() -> task<> {
        const int n = 5;
        chan<int> c(n);
        REQUIRE(c.len() == 0);
        REQUIRE(c.cap() == 5);
        for (int i = 0; i < n; ++i) REQUIRE(c.try_send(i));
        REQUIRE_FALSE(c.try_send(99));
        REQUIRE(c.len() == 5);
        REQUIRE(c.cap() == 5);
        std::atomic<int> flag{0};
        goro::go(send_then_flag(c, 5, &flag));
        co_await goro::sleep(1ms);
        REQUIRE(flag.load() == 0);
        auto first = co_await c.recv();
        REQUIRE(*first == 0);
        while (flag.load() != 1) co_await goro::sleep(100us);
        REQUIRE(c.len() == 5);
        auto nil = chan<int>::nil();
        REQUIRE(nil.len() == 0);
        REQUIRE(nil.cap() == 0);
        chan<int> unbuffered;
        REQUIRE(unbuffered.cap() == 0);
    }());
}

TEST_CASE("item 6 [HARD]: FIFO across the buffer and the send queue", "[chan]") {
    for (unsigned procs : k_procs) {
        run_on(
            []() -> task<> {
                chan<int> c(2);
                REQUIRE(c.try_send(0));
                REQUIRE(c.try_send(1));
                std::atomic<int> sent{0};
                for (int v = 2; v <= 4; ++v) {
                    goro::go(send_then_flag(c, v, &sent));
                    co_await goro::sleep(1ms);  // the sender of v is parked before the next one starts
                    REQUIRE(sent.load() == 0);
                    REQUIRE(c.debug_check());
                }
                for (int v = 0; v <= 4; ++v) {
                    auto got = co_await c.recv();
                    REQUIRE(*got == v);
                    REQUIRE(c.debug_check());
                }
                while (sent.load() != 3) co_await goro::sleep(100us);
            }(),
            procs);
    }
}

TEST_CASE("item 6 [HARD]: randomized stress keeps the chan.go invariants", "[chan][stress]") {
    for (unsigned procs : k_procs) {
        for (int cap : {0, 1, 3}) {
            std::atomic<long> bad{0}, sum_in{0}, sum_out{0};
            run_on(
                [](int cap, std::atomic<long>* bad, std::atomic<long>* sum_in, std::atomic<long>* sum_out) -> task<> {
                    chan<int> c(cap);
                    goro::group g;
                    const int ops = 4000 / k_scale;
                    for (int w = 0; w < 4; ++w) {
                        g.go([](chan<int> c, int seed, int ops, std::atomic<long>* bad, std::atomic<long>* in) -> task<> {
                            std::minstd_rand rng(static_cast<unsigned>(seed));
                            for (int i = 0; i < ops; ++i) {
                                const int v = static_cast<int>(rng() % 1000);
                                if (rng() % 2) {
                                    co_await c.send(v);
                                    in->fetch_add(v);
                                } else if (c.try_send(v)) {
                                    in->fetch_add(v);
                                }
                                if (!c.debug_check()) bad->fetch_add(1);
                                if (rng() % 8 == 0) co_await goro::yield();
                            }
                        }(c, w, ops, bad, sum_in));
                    }
                    chan<int> done;
                    for (int r = 0; r < 4; ++r) {
                        goro::go([](chan<int> c, int seed, std::atomic<long>* bad, std::atomic<long>* out,
                                    chan<int> done) -> task<> {
                            std::minstd_rand rng(static_cast<unsigned>(seed));
                            for (;;) {
                                if (rng() % 2) {
                                    auto v = co_await c.recv();
                                    if (!v) break;
                                    out->fetch_add(*v);
                                } else {
                                    auto r = c.try_recv();
                                    if (r.status == goro::recv_status::closed) break;
                                    if (r) out->fetch_add(*r.value);
                                    else co_await goro::yield();
                                }
                                if (!c.debug_check()) bad->fetch_add(1);
                            }
                            co_await done.send(1);
                        }(c, 100 + r, bad, sum_out, done));
                    }
                    co_await g.wait();
                    c.close();
                    for (int r = 0; r < 4; ++r) co_await done.recv();
                    if (!c.debug_check()) bad->fetch_add(1);
                }(cap, &bad, &sum_in, &sum_out),
                procs);
            REQUIRE(bad.load() == 0);
            REQUIRE(sum_in.load() == sum_out.load());
        }
    }
}

TEST_CASE("item 7: a buffered channel is a counting semaphore", "[chan]") {
    for (unsigned procs : k_procs) {
        std::atomic<int> inflight{0}, peak{0};
        run_on(
            [](std::atomic<int>* inflight, std::atomic<int>* peak) -> task<> {
                chan<int> sem(3);
                goro::group g;
                for (int i = 0; i < 1000; ++i)
                    g.go([](chan<int> sem, std::atomic<int>* inflight, std::atomic<int>* peak) -> task<> {
                        co_await sem.send(1);
                        const int now = inflight->fetch_add(1) + 1;
                        int p = peak->load();
                        while (now > p && !peak->compare_exchange_weak(p, now)) {
                        }
                        co_await goro::yield();
                        inflight->fetch_sub(1);
                        co_await sem.recv();
                    }(sem, inflight, peak));
                co_await g.wait();
            }(&inflight, &peak),
            procs);
        REQUIRE(peak.load() <= 3);
        REQUIRE(peak.load() >= 1);
    }
}

TEST_CASE("item 8: after close, buffered values drain in order, then nullopt forever", "[chan]") {
    run_on([]() -> task<> {
        const int n = 10;
        chan<int> c(n);
        for (int i = 0; i < n; ++i) co_await c.send(i);
        c.close();  // close never blocks
        REQUIRE(c.len() == 10);
        for (int i = 0; i < n; ++i) {
            auto v = co_await c.recv();
            REQUIRE(*v == i);
        }
        auto z1 = co_await c.recv();
        auto z2 = co_await c.recv();
        REQUIRE_FALSE(z1.has_value());
        REQUIRE_FALSE(z2.has_value());
        REQUIRE(c.try_recv().status == goro::recv_status::closed);
        chan<int> u;
        u.close();
        auto z3 = co_await u.recv();
        REQUIRE_FALSE(z3.has_value());
    }());
}

TEST_CASE("item 9 [HARD]: close wakes every parked receiver with nullopt", "[chan][stress]") {
    for (unsigned procs : k_procs) {
        for (int round = 0; round < 20 / (k_scale > 1 ? 4 : 1); ++round) {
            run_on(
                []() -> task<> {
                    chan<int> a, b(5);
                    std::atomic<int> done{0}, got{0};
                    for (int i = 0; i < 100; ++i) {
                        goro::go(recv_into(a, &done, &got));
                        goro::go(recv_into(b, &done, &got));
                    }
                    co_await goro::yield();
                    a.close();
                    b.close();
                    const auto start = std::chrono::steady_clock::now();
                    while (done.load() != 200) {
                        co_await goro::sleep(100us);
                        REQUIRE(std::chrono::steady_clock::now() - start < 10s);
                    }
                    REQUIRE(got.load() == 0);
                    REQUIRE(a.debug_check());
                    REQUIRE(b.debug_check());
                }(),
                procs);
        }
    }
}

TEST_CASE("item 10 [HARD]: close wakes every parked sender, which throws channel_closed", "[chan][stress]") {
    for (unsigned procs : k_procs) {
        for (int round = 0; round < 20; ++round) {
            run_on(
                []() -> task<> {
                    chan<int> c(1);
                    co_await c.send(0);
                    std::vector<goro::join_handle<int>> hs;
                    for (int i = 0; i < 10; ++i)
                        hs.push_back(goro::spawn([](chan<int> c) -> task<int> {
                            try {
                                co_await c.send(1);
                            } catch (const goro::channel_closed& e) {
                                co_return std::string(e.what()) == "send on closed channel" ? 1 : 2;
                            }
                            co_return 0;
                        }(c)));
                    co_await goro::yield();
                    c.close();
                    int thrown = 0;
                    for (auto& h : hs) thrown += (co_await std::move(h) == 1);
                    REQUIRE(thrown == 10);
                    auto last = co_await c.recv();  // the buffered value is still delivered
                    REQUIRE(*last == 0);
                }(),
                procs);
        }
    }
}

TEST_CASE("items 11, 84: run-time errors share goro::runtime_error and use Go's wording", "[chan]") {
    run_on([]() -> task<> {
        chan<int> c;
        c.close();
        bool thrown = false;
        try {
            co_await c.send(1);
        } catch (const goro::channel_closed& e) {
            thrown = std::string(e.what()) == "send on closed channel";
        }
        REQUIRE(thrown);
        REQUIRE_THROWS_AS(c.try_send(1), goro::channel_closed);
        REQUIRE_THROWS_AS(c.close(), goro::close_of_closed_channel);
        REQUIRE_THROWS_WITH(c.close(), "close of closed channel");
        REQUIRE_THROWS_AS(chan<int>::nil().close(), goro::close_of_nil_channel);
        REQUIRE_THROWS_WITH(chan<int>::nil().close(), "close of nil channel");
        REQUIRE_THROWS_AS(chan<int>(-1), goro::bad_channel_size);
        REQUIRE_THROWS_WITH(chan<int>(-1), "makechan: size out of range");
        REQUIRE_THROWS_AS(chan<int>(-1), goro::runtime_error);
        REQUIRE_THROWS_AS(c.close(), goro::runtime_error);
        REQUIRE_THROWS_AS(chan<int>::nil().close(), goro::runtime_error);
        REQUIRE_THROWS_AS(c.try_send(1), goro::runtime_error);
        co_return;
    }());
}

TEST_CASE("item 12: ranging a pipeline of 23 workers loses nothing", "[chan]") {
    for (unsigned procs : k_procs) {
        const long n = 271'828 / k_scale;
        auto [count, sum] = run_on(
            [](long n) -> task<std::pair<long, long>> {
                chan<long> q(69), r(69);
                goro::group workers;
                for (int w = 0; w < 23; ++w)
                    workers.go([](chan<long> q, chan<long> r) -> task<> {
                        while (auto v = co_await q.recv()) co_await r.send(*v);
                    }(q, r));
                goro::go([](chan<long> q, chan<long> r, long n, goro::group* workers) -> task<> {
                    for (long i = 0; i < n; ++i) co_await q.send(i);
                    q.close();
                    co_await workers->wait();
                    r.close();
                }(q, r, n, &workers));
                long count = 0, sum = 0;
                while (auto v = co_await r.recv()) {
                    ++count;
                    sum += *v;
                }
                co_await workers.wait();
                co_return std::pair{count, sum};
            }(n),
            procs);
        REQUIRE(count == n);
        REQUIRE(sum == n * (n - 1) / 2);
    }
}

TEST_CASE("item 13: nil channel operations block forever; non-blocking ones report not ready", "[chan]") {
    run_on([]() -> task<> {
        auto nil = chan<int>::nil();
        REQUIRE(nil.is_nil());
        REQUIRE_FALSE(static_cast<bool>(nil));
        REQUIRE(nil == chan<int>::nil());
        std::atomic<int> done{0}, got{0}, sent{0};
        goro::go(recv_into(nil, &done, &got));
        goro::go(send_then_flag(nil, 1, &sent));
        // ranging over a nil channel blocks forever too (item 15)
        goro::go([](chan<int> nil, std::atomic<int>* done) -> task<> {
            while (auto v = co_await nil.recv()) {
            }
            done->fetch_add(1);
        }(nil, &done));
        std::atomic<int> ticks{0};
        for (int i = 0; i < 20; ++i) {
            co_await goro::sleep(5ms);  // others keep running
            ticks.fetch_add(1);
        }
        REQUIRE(ticks.load() == 20);
        REQUIRE(done.load() == 0);
        REQUIRE(sent.load() == 0);
        REQUIRE_FALSE(nil.try_send(1));
        REQUIRE(nil.try_recv().status == goro::recv_status::empty);
    }());
}

TEST_CASE("item 15: a receive on a nil channel alone in the program is a deadlock", "[chan]") {
    const auto r = goro_test::run_in_child(
        [] {
            goro::run([]() -> task<> { co_await chan<int>::nil().recv(); }(), {.procs = 2});
            return 0;  // not reached: the deadlock report exits with status 2
        },
        20s);
    REQUIRE_FALSE(r.timed_out);
    REQUIRE(r.exit_status == 2);
    REQUIRE(r.stderr_text.find("all goroutines are asleep - deadlock!") != std::string::npos);
    REQUIRE(r.stderr_text.find("chan receive (nil chan)") != std::string::npos);
}

TEST_CASE("a channel handle has reference semantics; move-only values work", "[chan]") {
    run_on([]() -> task<> {
        chan<std::unique_ptr<int>> c(2);
        chan<std::unique_ptr<int>> d = c;
        REQUIRE(c == d);
        REQUIRE_FALSE(c == chan<std::unique_ptr<int>>());
        co_await c.send(std::make_unique<int>(5));
        REQUIRE(d.len() == 1);
        auto v = co_await d.recv();
        REQUIRE(**v == 5);
        REQUIRE(c.try_send(std::make_unique<int>(6)));
        auto r = d.try_recv();
        REQUIRE(r);
        REQUIRE(**r.value == 6);
        // buffered values are destroyed with the channel
        REQUIRE(c.try_send(std::make_unique<int>(7)));
    }());
}

TEST_CASE("item 22 [HARD]: tasks parked on channels are destroyed at shutdown and unlink themselves", "[chan][stress]") {
    for (unsigned procs : k_procs) {
        chan<std::string> keep_alive(1);
        run_on(
            [](chan<std::string> outside) -> task<> {
                chan<std::string> c, full(1);
                co_await full.send(std::string(100, 'x'));
                for (int i = 0; i < 50; ++i) {
                    goro::go([](chan<std::string> c) -> task<> { co_await c.recv(); }(c));
                    goro::go([](chan<std::string> c) -> task<> { co_await c.send(std::string(100, 'y')); }(full));
                    goro::go([](chan<std::string> c) -> task<> { co_await c.recv(); }(outside));
                }
                co_await goro::sleep(2ms);
            }(keep_alive),
            procs);
        // The outside channel survived the runtime; its waiters are gone.
        REQUIRE(keep_alive.debug_check());
        REQUIRE(keep_alive.try_send("after"));
        REQUIRE(*keep_alive.try_recv().value == "after");
    }
}
