// goro::go(f, args...), goro::spawn(f, args...), group::go(f, args...): the
// goroutine's frame owns the callable, its captures and the arguments
// (runtime/detail/owned_call.hpp), and the frame-pool switch that lets a
// sanitizer see task frames (runtime/detail/frame_allocator.hpp).
#include <catch2/catch.hpp>

#include <malloc.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>

#include <goro/goro.hpp>
#include <goro/runtime/detail/frame_allocator.hpp>
#include <goro/runtime/detail/sanitizers.hpp>

#include "support/child_process.hpp"

using namespace std::chrono_literals;

namespace {

// Longer than any small-string buffer: its characters live on the heap, so
// a use after free reads freed memory (and ASan reports it).
const std::string k_long_text = "a string far too long for the small-string buffer";

// Starts a goroutine and returns at once: every local of this function is
// gone before the goroutine runs (procs = 1, and the caller has not yielded).
void start_sender(goro::chan<std::string> out) {
    std::string local = k_long_text;
    int number = 42;
    goro::go([local, number, out]() -> goro::task<> {
        co_await goro::yield();
        co_await out.send(local + " " + std::to_string(number));
    });
}

void count_up(std::atomic<int>* counter, int by) { counter->fetch_add(by); }

struct holder {
    std::string text;
    goro::task<std::size_t> length() const {
        co_await goro::yield();
        co_return text.size();
    }
};

// The README's pitfall: goro::go(echo("text")) would leave `s` bound to a
// string that dies at the semicolon.
goro::task<std::string> echo(const std::string& s) {
    co_await goro::yield();
    co_return s;
}

}  // namespace

// Issue 13's example: `go func() { wg.Wait(); close(results) }()`. The
// closure object is a temporary of the statement that starts the goroutine;
// go(f) moves it into the goroutine's frame, so its captures are still there
// when the body runs (as go(f()) they were not: the closure died first).
// `results` is captured by value (a channel handle): main returns as soon as
// close() wakes it, while close() may still be running.
TEST_CASE("go(f): the issue's wg.Wait(); close(results) closure lives as long as its goroutine", "[task][callable]") {
    auto main_task = []() -> goro::task<int> {
        goro::wait_group wg;
        goro::chan<int> results(10);
        for (int i = 1; i <= 10; ++i) {
            wg.add(1);
            goro::go([&wg, results, i]() -> goro::task<> {
                co_await goro::yield();
                co_await results.send(i);
                wg.done();
            });
        }
        goro::go([&wg, results]() -> goro::task<> {
            co_await wg.wait();
            results.close();
        });
        int sum = 0;
        while (auto v = co_await results.recv()) sum += *v;
        co_return sum;
    };
    for (unsigned procs : {1u, 2u}) REQUIRE(goro::run(main_task(), {.procs = procs}) == 55);
}

TEST_CASE("go(f): by-value captures outlive the scope that started the goroutine", "[task][callable]") {
    auto main_task = []() -> goro::task<std::string> {
        goro::chan<std::string> out;
        start_sender(out);
        auto got = co_await out.recv();
        co_return got.value_or("nothing");
    };
    REQUIRE(goro::run(main_task(), {.procs = 1}) == k_long_text + " 42");
}

TEST_CASE("spawn(f) and spawn(f, args...) give the task's value through the handle", "[task][callable]") {
    auto main_task = []() -> goro::task<long> {
        int base = 1000;  // not const: a constant would need no capture
        auto a = goro::spawn([base]() -> goro::task<int> {
            co_await goro::yield();
            co_return base + 1;
        });
        auto b = goro::spawn([](int x, int y) -> goro::task<long> { co_return long{x} * y; }, 6, 7);
        auto c = goro::spawn([] { return 2; });  // a plain callable runs inside the goroutine
        // A member function: the object is copied into the frame, and `this` points there.
        auto d = goro::spawn(&holder::length, holder{k_long_text});
        const int va = co_await std::move(a);
        const long vb = co_await std::move(b);
        const int vc = co_await std::move(c);
        const std::size_t vd = co_await std::move(d);
        co_return va + vb + vc + static_cast<long>(vd);
    };
    REQUIRE(goro::run(main_task(), {.procs = 2}) == 1001 + 42 + 2 + static_cast<long>(k_long_text.size()));
}

// The other case: a `const std::string&` parameter bound to a
// temporary. With spawn(f, args...) it binds to the frame's own copy.
TEST_CASE("spawn(f, args...): a temporary argument is copied into the frame and survives", "[task][callable]") {
    auto main_task = []() -> goro::task<std::string> {
        auto h = goro::spawn(
            [](const std::string& s) -> goro::task<std::string> {
                co_await goro::yield();
                co_await goro::sleep(1ms);
                co_return s;
            },
            std::string(k_long_text));
        co_return co_await std::move(h);
    };
    REQUIRE(goro::run(main_task(), {.procs = 2}) == k_long_text);
}

// spawn(echo, "...") keeps the pointer to the literal in the frame; the
// std::string that `s` binds to is a temporary of the wrapper's own
// co_await expression, which lasts until that await is over.
TEST_CASE("spawn(coroutine function, args...): a reference parameter lives as long as the task", "[task][callable]") {
    auto main_task = []() -> goro::task<std::string> {
        auto h = goro::spawn(echo, "a literal converted to a std::string of its own, long enough for the heap");
        co_return co_await std::move(h);
    };
    REQUIRE(goro::run(main_task(), {.procs = 2}) ==
            "a literal converted to a std::string of its own, long enough for the heap");
}

TEST_CASE("spawn(f, args...): move-only callables and arguments are moved into the frame", "[task][callable]") {
    auto main_task = []() -> goro::task<int> {
        auto mine = std::make_unique<int>(7);
        auto h = goro::spawn(
            [p = std::move(mine)](std::unique_ptr<int> q) -> goro::task<int> {
                co_await goro::yield();
                co_return *p + *q;
            },
            std::make_unique<int>(35));
        co_return co_await std::move(h);
    };
    REQUIRE(goro::run(main_task(), {.procs = 2}) == 42);
}

TEST_CASE("spawn(f): an exception of the callable's task or of a plain callable reaches the joiner",
          "[task][callable]") {
    auto main_task = []() -> goro::task<std::string> {
        auto a = goro::spawn([]() -> goro::task<int> {
            co_await goro::yield();
            throw std::runtime_error("task boom");
        });
        auto b = goro::spawn([]() -> int { throw std::runtime_error("plain boom"); });
        std::string seen;
        try {
            co_await std::move(a);
        } catch (const std::runtime_error& e) {
            seen += e.what();
        }
        try {
            co_await std::move(b);
        } catch (const std::runtime_error& e) {
            seen += std::string(", ") + e.what();
        }
        co_return seen;
    };
    REQUIRE(goro::run(main_task(), {.procs = 2}) == "task boom, plain boom");
}

TEST_CASE("go(f): an exception escaping the goroutine is a panic naming the go(f) call", "[task][callable]") {
    auto result = goro_test::run_in_child([] {
        auto main_task = []() -> goro::task<int> {
            const std::string what = "lambda boom";
            goro::go([what]() -> goro::task<> {
                co_await goro::sleep(1ms);
                throw std::runtime_error(what);
            });
            co_await goro::sleep(1h);  // blocked: the panic must still end the program
            co_return 0;
        };
        goro::run(main_task(), {.procs = 2});
        return 0;
    });
    REQUIRE(result.exit_status == 2);
    REQUIRE_THAT(result.stderr_text, Catch::StartsWith("panic: lambda boom"));
    REQUIRE_THAT(result.stderr_text, Catch::Contains("go_callable_test.cpp"));  // the go(f) call's site
}

TEST_CASE("go(f, args...) runs a plain function; a null function pointer is Go's nil func", "[task][callable]") {
    auto main_task = []() -> goro::task<int> {
        std::atomic<int> counter{0};
        goro::group g;
        g.go(count_up, &counter, 2);
        g.go([&counter]() -> goro::task<> {
            co_await goro::yield();
            counter.fetch_add(10);
        });
        g.go([](std::atomic<int>* c, std::string s) -> goro::task<> {
            co_await goro::yield();
            c->fetch_add(static_cast<int>(s.size()));
        }, &counter, std::string(100, 'x'));
        co_await g.wait();
        void (*nil)(std::atomic<int>*, int) = nullptr;
        try {
            goro::go(nil, &counter, 1);
        } catch (const goro::runtime_error& e) {
            if (std::string(e.what()) == "go of nil func value") counter.fetch_add(1000);
        }
        co_return counter.load();
    };
    REQUIRE(goro::run(main_task(), {.procs = 2}) == 2 + 10 + 100 + 1000);
}

TEST_CASE("group::go(f): an exception of a callable's task is the group's error", "[task][callable][group]") {
    auto main_task = []() -> goro::task<std::string> {
        goro::group g;
        const std::string message = k_long_text;
        g.go([message]() -> goro::task<> {
            co_await goro::yield();
            throw std::runtime_error(message);
        });
        try {
            co_await g.wait();
        } catch (const std::runtime_error& e) {
            co_return e.what();
        }
        co_return "no error";
    };
    REQUIRE(goro::run(main_task(), {.procs = 2}) == k_long_text);
}

// GORO_DEBUG=framepool=0 is read once, at the first frame: the check runs in
// a fresh copy of this executable (exec'd, not just forked: the parent has
// made frames already), which runs the hidden test case below.
TEST_CASE("frame pool switch: children of this test", "[.][frame_pool_child]") {
    REQUIRE_FALSE(goro::detail::frame_pool_enabled());
#if !GORO_ASAN && !GORO_TSAN
    // A pooled frame comes from a slab (mmap): malloc's count of bytes in use
    // does not move. With the pool off it comes from ::operator new (malloc).
    const std::size_t size = 1000;
    const auto before = ::mallinfo2().uordblks;
    void* frame = goro::detail::allocate_frame(size);
    const auto during = ::mallinfo2().uordblks;
    goro::detail::free_frame(frame, size);
    const auto after = ::mallinfo2().uordblks;
    REQUIRE(during >= before + size);
    // And back to malloc when freed (this child runs without malloc's
    // thread cache): not kept on the pool's lists, whose fast path takes
    // every block (the slow path hands it back). The same for a task
    // frame's own pair.
    void* task_frame = goro::detail::allocate_task_frame(size);
    const auto task_during = ::mallinfo2().uordblks;
    goro::detail::free_task_frame(task_frame, size);
    const auto task_after = ::mallinfo2().uordblks;
    REQUIRE(after == before);
    REQUIRE(task_during >= before + size);
    REQUIRE(task_after == before);
#endif
    REQUIRE(goro::run([]() -> goro::task<int> { co_return 7; }(), {.procs = 1}) == 7);
}

TEST_CASE("GORO_DEBUG=framepool=0 gives every task frame its own operator new", "[task][frame_pool]") {
    auto result = goro_test::run_in_child([] {
        ::setenv("GORO_DEBUG", "framepool=0", 1);
        // No thread cache in malloc: a freed block leaves its count of
        // bytes in use at once (the child's test of free_frame). Added to
        // whatever tunables the caller set.
        const char* tunables = std::getenv("GLIBC_TUNABLES");
        const std::string no_tcache = "glibc.malloc.tcache_count=0";
        ::setenv("GLIBC_TUNABLES", tunables && *tunables ? (std::string(tunables) + ":" + no_tcache).c_str() : no_tcache.c_str(), 1);
        ::dup2(STDERR_FILENO, STDOUT_FILENO);  // Catch's report, for a failure's message
        ::execl("/proc/self/exe", "test_task", "frame pool switch: children of this test", static_cast<char*>(nullptr));
        return 127;
    });
    INFO(result.stderr_text);
    REQUIRE(result.exit_status == 0);
    REQUIRE_THAT(result.stderr_text, Catch::Contains("All tests passed"));
}
