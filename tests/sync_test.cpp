// What every goro sync primitive shares: none can be copied or moved (Go's
// "must not be copied after first use"), and tasks parked on any of them are
// destroyed cleanly at shutdown. Each primitive's own behaviour is tested in
// its file: wait_group_test, mutex_test, rw_mutex_test, once_test,
// cond_test, semaphore_test (docs/go-behaviours.md, sections F-J).
#include <catch2/catch.hpp>

#include <chrono>
#include <type_traits>

#include <goro/goro.hpp>

#include "support/sync_helpers.hpp"

using namespace std::chrono_literals;
using goro_test::for_procs;

// Copy detection (Go's TestCondCopy / "must not be copied after first use").
template <typename T>
constexpr bool pinned = !std::is_copy_constructible_v<T> && !std::is_move_constructible_v<T> &&
                        !std::is_copy_assignable_v<T> && !std::is_move_assignable_v<T>;
static_assert(pinned<goro::mutex> && pinned<goro::rw_mutex> && pinned<goro::wait_group> && pinned<goro::once> &&
              pinned<goro::cond> && pinned<goro::semaphore>);

TEST_CASE("item 22 (sync): tasks parked on every primitive are destroyed cleanly at shutdown", "[sync]") {
    for_procs([](unsigned procs) {
        struct prims {
            goro::mutex m;
            goro::rw_mutex rw;
            goro::wait_group wg;
            goro::cond c;
            goro::mutex cm;
            goro::semaphore sem{1};
            goro::once o;
        };
        static prims* p = nullptr;  // outlives the parked frames (destroyed after run returns)
        p = new prims;
        auto main_task = []() -> goro::task<int> {
            co_await p->m.lock();
            co_await p->rw.lock();
            p->wg.add(1);
            co_await p->sem.acquire(1);
            for (int i = 0; i < 3; ++i) {
                goro::go([]() -> goro::task<> { co_await p->m.lock(); }());
                goro::go([]() -> goro::task<> { co_await p->rw.lock_shared(); }());
                goro::go([]() -> goro::task<> { co_await p->rw.lock(); }());
                goro::go([]() -> goro::task<> { co_await p->wg.wait(); }());
                goro::go([]() -> goro::task<> {
                    co_await p->cm.lock();
                    co_await p->c.wait(p->cm);
                }());
                goro::go([]() -> goro::task<> { co_await p->sem.acquire(1); }());
                goro::go([]() -> goro::task<> { co_await p->sem.acquire(5); }());  // too big: parked unqueued
                goro::go([]() -> goro::task<> {
                    co_await p->o.call([]() -> goro::task<> { co_await p->m.lock(); });
                }());
            }
            co_await goro::sleep(5ms);  // let them all park
            co_return 0;                // run() destroys the parked frames: each unlinks itself
        };
        REQUIRE(goro::run(main_task(), {.procs = procs}) == 0);
        delete p;
        p = nullptr;
    });
}
