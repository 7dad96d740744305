// goro::task frames: how a finished task's frame is freed. task.hpp's
// release_finished frees it directly when its parameters are trivially
// destructible and the frame is where goro allocated it
// (frame_allocator.hpp's frees_directly), through the compiler's destroy
// otherwise. Either way every parameter and value is destroyed once (ASan
// checks the memory; the counts here check the destructors).
#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <coroutine>
#include <cstdint>
#include <string>

#include <goro/goro.hpp>

#include "support/frame_token.hpp"
#include "support/watchdog.hpp"

using goro_test::watchdog;
using namespace std::chrono_literals;

namespace {

// An object with a destructor, counted: what a frame holds as a parameter
// and a promise holds as a value.
std::atomic<long> g_live_counted{0};

struct counted {
    long v;
    counted() noexcept : v(0) { g_live_counted.fetch_add(1); }  // join_all and fj::all need one
    explicit counted(long x) noexcept : v(x) { g_live_counted.fetch_add(1); }
    counted(const counted& other) noexcept : v(other.v) { g_live_counted.fetch_add(1); }
    counted& operator=(const counted&) = default;
    ~counted() { g_live_counted.fetch_sub(1); }
};

// A parameter with a destructor (the compiler's destroy), a value with one.
goro::task<counted> next_counted(counted c) {
    co_await goro::yield();
    co_return counted(c.v + 1);
}

// Trivially destructible parameters (the direct way), a value with a destructor.
goro::task<counted> make_counted(long v) {
    co_await goro::yield();
    co_return counted(v);
}

// A reference to a type incomplete here: the frame's allocation must still
// compile (it cannot ask whether the type is trivially destructible), and
// counts it as not. through_incomplete_here is a coroutine defined while
// the type is incomplete; through_incomplete, one declared so and defined
// once it is complete.
struct defined_later;
goro::task<long> through_incomplete(defined_later& x);
long value_of(const defined_later& x);
goro::task<long> through_incomplete_here(defined_later& x) {
    co_await goro::yield();
    co_return value_of(x);
}

// Over-aligned locals live across a suspension: a compiler may pad such a
// frame to align it (clang does), and the frame is then not where goro's
// allocation put it.
goro::task<long> over_aligned(long v) {
    alignas(64) std::array<long, 8> buf{};
    buf[0] = v;
    co_await goro::yield();
    buf[7] = buf[0] * 2;
    co_return buf[7];
}

struct defined_later {
    std::string name = "later";
    long v = 5;
};

long value_of(const defined_later& x) { return x.v; }

goro::task<long> through_incomplete(defined_later& x) {
    co_await goro::yield();
    co_return x.v;
}

goro::task<> add_counted(std::atomic<long>* sum, counted c) {
    co_await goro::yield();
    sum->fetch_add(c.v);
}

}  // namespace

TEST_CASE("a finished task's parameters and value are destroyed once, whichever way it ends", "[task][frame]") {
    watchdog dog("task frame destroy counts", 120s);
    for (unsigned procs : {1u, 2u}) {
        INFO("procs " << procs);
        const long counted_before = g_live_counted.load();
        auto main_task = []() -> goro::task<int> {
            long total = 0;
            // Awaited (nested), both kinds of parameters.
            // (Arguments with destructors are named, never temporaries in
            // an awaited call: g++ 12 miscompiles those.)
            for (long i = 0; i < 100; ++i) {
                const counted arg(i);
                const counted a = co_await next_counted(arg);
                const counted b = co_await make_counted(i);
                total += a.v + b.v;
            }
            // Spawned and joined.
            for (long i = 0; i < 100; ++i) {
                auto h1 = goro::spawn(next_counted(counted(i)));
                auto h2 = goro::spawn(make_counted(i));
                const counted b = co_await std::move(h2);
                const counted a = co_await std::move(h1);
                total += a.v + b.v;
            }
            // Detached (goro::go) and group members, which free themselves.
            std::atomic<long> sum{0};
            {
                goro::wait_group wg;
                for (long i = 0; i < 100; ++i) {
                    wg.add(1);
                    goro::go(
                        [](goro::wait_group* w, std::atomic<long>* s, counted c) -> goro::task<> {
                            co_await goro::yield();
                            s->fetch_add(c.v);
                            w->done();
                        },
                        &wg, &sum, counted(i));
                }
                co_await wg.wait();
            }
            {
                goro::group g;
                for (long i = 0; i < 100; ++i) g.go(add_counted(&sum, counted(i)));
                co_await g.wait();
            }
            // join_all and fj::all.
            for (long i = 0; i < 50; ++i) {
                std::array<goro::task<counted>, 2> pair{next_counted(counted(i)), make_counted(i)};
                const std::array<counted, 2> both = co_await goro::join_all(std::move(pair));
                total += both[0].v + both[1].v;
                goro::task<counted> first = next_counted(counted(i));
                auto [c, d] = co_await goro::fj::all(std::move(first), make_counted(i));
                total += c.v + d.v;
            }
            // Each pair above: (i + 1) + i, summed over i.
            const long pairs = 2 * (99 * 100 / 2) + 100 + 2 * (99 * 100 / 2) + 100 + 2 * (2 * (49 * 50 / 2) + 50);
            REQUIRE(total == pairs);
            REQUIRE(sum.load() == 2 * (99 * 100 / 2));
            co_return 0;
        };
        REQUIRE(goro::run(main_task(), {.procs = procs}) == 0);
        REQUIRE(g_live_counted.load() == counted_before);
    }
}

TEST_CASE("a task's frame is freed whatever its parameters and locals", "[task][frame]") {
    watchdog dog("task frame shapes", 120s);
    auto main_task = []() -> goro::task<int> {
        defined_later later;
        long total = 0;
        for (long i = 0; i < 200; ++i) {
            const long a = co_await over_aligned(i);
            const long b = co_await through_incomplete(later);
            const long c = co_await through_incomplete_here(later);
            total += a + b + c;
        }
        REQUIRE(total == 2 * (199 * 200 / 2) + 2 * 5 * 200);
        std::array<goro::join_handle<long>, 64> handles;
        for (long i = 0; i < 64; ++i) handles[i] = goro::spawn(over_aligned(i));
        for (long i = 0; i < 64; ++i) {
            const long v = co_await std::move(handles[i]);
            REQUIRE(v == 2 * i);
        }
        co_return 0;
    };
    REQUIRE(goro::run(main_task(), {.procs = 2}) == 0);
}

namespace {

goro::task<long> no_params() { co_return 1; }
goro::task<long> plain_params(long v, const char*) { co_return v; }
goro::task<> plain_void(long) { co_return; }
goro::task<long> owning_string(long v, std::string) { co_return v; }
goro::task<> owning_counted(counted) { co_return; }

struct has_member_task {
    long v = 3;
    goro::task<long> get() { co_return v; }
};

// Out of line, and given the task (not made here), so that no compiler
// elides its frame (clang would: the frame would then live in the
// caller's, not where goro allocated it).
template <typename T>
[[gnu::noinline]] bool frees_directly_unrun(goro::task<T> t) {
    auto h = t.release();
    const bool direct = goro::detail::frees_directly(h.address());
    h.destroy();
    return direct;
}

}  // namespace

TEST_CASE("a task frame frees directly exactly when its parameters are trivially destructible", "[task][frame]") {
    const long counted_before = g_live_counted.load();
    CHECK(frees_directly_unrun(no_params()));
    CHECK(frees_directly_unrun(plain_params(1, "x")));
    CHECK(frees_directly_unrun(plain_void(1)));
    has_member_task object;
    CHECK(frees_directly_unrun(object.get()));  // the object, by reference: a trivial type
    defined_later later;
    CHECK_FALSE(frees_directly_unrun(through_incomplete_here(later)));  // incomplete where it was defined
    CHECK_FALSE(frees_directly_unrun(owning_string(1, std::string(40, 'y'))));
    CHECK_FALSE(frees_directly_unrun(owning_counted(counted(2))));
    // A lambda's frame holds its closure's address, not the closure: either
    // answer is safe for one with captures to destroy (g++ passes the
    // closure to operator new, and it is judged by its type; clang does
    // not pass it). One without is direct either way.
    auto plain_lambda = [n = 4L]() -> goro::task<long> { co_return n; };
    CHECK(frees_directly_unrun(plain_lambda()));
    CHECK(g_live_counted.load() == counted_before);
}

TEST_CASE("frees_directly tells goro's direct-free frames from other memory", "[task][frame]") {
    using goro::detail::frees_directly;
    using goro::detail::k_task_frame_check;
    void* frame = goro::detail::allocate_task_frame(200);
    CHECK(frees_directly(frame));
    goro::detail::free_task_frame(frame, 200);
    // A freed frame's word is cleared (read only where the pool keeps the
    // memory: elsewhere the read would be a use after free).
    if (goro::detail::frame_pool_enabled()) CHECK_FALSE(frees_directly(frame));
    // The same block again (the pool's lists are LIFO), for a frame with a
    // parameter to destroy: the earlier check word must not survive.
    void* kept = goro::detail::allocate_task_frame_nontrivial(200);
    if (goro::detail::frame_pool_enabled()) CHECK(kept == frame);
    CHECK_FALSE(frees_directly(kept));
    goro::detail::free_task_frame(kept, 200);

    // Memory a compiler could put a frame in: zeros, or a pointer to the
    // frame itself just before it (a parent's handle to an elided child).
    // Only the full test tells the second from goro's frames: with g++ up
    // to 14, which places no frame elsewhere, the word's being non-zero is
    // the test (k_frames_only_where_allocated).
    alignas(16) std::array<std::uintptr_t, 8> words{};
    CHECK_FALSE(frees_directly(&words[2]));
    words[1] = reinterpret_cast<std::uintptr_t>(&words[2]);
    CHECK(frees_directly(&words[2]) == goro::detail::k_frames_only_where_allocated);
    words[1] = reinterpret_cast<std::uintptr_t>(&words[2]) ^ k_task_frame_check;
    CHECK(frees_directly(&words[2]));
}

TEST_CASE("a task variable awaited keeps its finished frame until it is destroyed or reassigned", "[task][frame]") {
    const long counted_before = g_live_counted.load();
    auto main_task = []() -> goro::task<int> {
        goro::task<counted> t = make_counted(4);
        const counted v = co_await t;
        REQUIRE(v.v == 4);
        REQUIRE(static_cast<bool>(t));  // still holds the finished frame and its value
        t = make_counted(5);            // frees it; the new one never runs
        goro::task<counted> u = next_counted(v);
        const counted w = co_await u;
        REQUIRE(w.v == 5);
        co_return 0;
    };
    REQUIRE(goro::run(main_task(), {.procs = 1}) == 0);
    REQUIRE(g_live_counted.load() == counted_before);
}

// The main goroutine returns while another waits, inside a task it awaits,
// on a channel nobody sends on: the shutdown destroys the waiter's frame,
// whose awaiter destroys the awaited task's, unfinished (the compiler's
// destroy: the direct way is for finished frames only).
TEST_CASE("shutdown frees a task awaited by a goroutine parked inside it", "[task][frame]") {
    const long frames_before = goro_test::live_frames();
    const long counted_before = g_live_counted.load();
    auto main_task = []() -> goro::task<int> {
        goro::chan<int> never(0);
        goro::chan<int> started(1);
        auto inner = [](goro::chan<int> c, goro::chan<int> s, counted, goro_test::frame_token) -> goro::task<long> {
            co_await s.send(1);
            (void)co_await c.recv();
            co_return 1;
        };
        auto outer = [](goro::task<long> t, goro_test::frame_token) -> goro::task<> { (void)co_await std::move(t); };
        goro::go(outer(inner(never, started, counted(1), {}), {}));
        (void)co_await started.recv();
        co_return 0;
    };
    REQUIRE(goro::run(main_task(), {.procs = 1}) == 0);
    REQUIRE(goro_test::live_frames() == frames_before);
    REQUIRE(g_live_counted.load() == counted_before);
}
