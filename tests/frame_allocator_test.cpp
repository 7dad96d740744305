// The frame pool (runtime/detail/frame_allocator.hpp) on its own, through
// pool_allocate_frame/pool_free_frame so that it runs in every build: the
// sanitizer builds route task frames around the pool, and this is where
// ThreadSanitizer checks it.
//
// Frames allocated on one thread and freed on another is the pattern every
// goroutine that migrates produces; a pool that handed one block out twice,
// or lost a batch between threads, fails the ownership stamps below.
#include <catch2/catch.hpp>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include <goro/runtime/detail/frame_allocator.hpp>

#include "support/watchdog.hpp"

namespace {

using goro::detail::pool_allocate_frame;
using goro::detail::pool_free_frame;
using goro::detail::pool_pair_reaches_pool;

// Under GORO_DEBUG=framepool=0 (memcheck runs set it, so that valgrind sees
// every frame) the test pair is the system allocator's: the stamps still
// check that nothing is handed out twice, but what is particular to the
// pool (its lists, what an exiting thread hands back) is not there to
// check. Said loudly, never passed silently.
bool pool_reached_or_warned() {
    if (pool_pair_reaches_pool()) return true;
    WARN("GORO_DEBUG=framepool=0: the pool is off in this process; only the system allocator's round trip is checked");
    return false;
}

// Every live block carries its owner's stamp over its whole size: a block
// handed out twice is overwritten by its second owner, which the first one
// then sees when it checks before freeing.
struct stamped {
    void* block;
    std::size_t size;
    std::uint64_t stamp;
};

void fill(const stamped& s) {
    auto* words = static_cast<std::uint64_t*>(s.block);
    for (std::size_t i = 0; i < s.size / sizeof(std::uint64_t); ++i) words[i] = s.stamp;
}

bool intact(const stamped& s) {
    const auto* words = static_cast<const std::uint64_t*>(s.block);
    for (std::size_t i = 0; i < s.size / sizeof(std::uint64_t); ++i)
        if (words[i] != s.stamp) return false;
    return true;
}

// A bounded, mutex-guarded hand-off queue between threads (the pool is the
// subject, not this). Bounded so that starved consumers cannot let the live
// frames, and with them the pool's never-returned slabs, grow without limit.
class handoff {
public:
    void push(std::vector<stamped>&& batch) {
        std::unique_lock guard(m_lock);
        m_cv.wait(guard, [&] { return m_items.size() < k_capacity; });
        m_items.push_back(std::move(batch));
        m_cv.notify_all();
    }
    bool pop(std::vector<stamped>& out) {
        std::unique_lock guard(m_lock);
        m_cv.wait(guard, [&] { return !m_items.empty() || m_closed; });
        if (m_items.empty()) return false;
        out = std::move(m_items.front());
        m_items.pop_front();
        m_cv.notify_all();
        return true;
    }
    void close() {
        std::lock_guard guard(m_lock);
        m_closed = true;
        m_cv.notify_all();
    }

private:
    static constexpr std::size_t k_capacity = 64;
    std::mutex m_lock;
    std::condition_variable m_cv;
    std::deque<std::vector<stamped>> m_items;
    bool m_closed = false;
};

constexpr std::size_t k_sizes[] = {24, 64, 65, 200, 512, 2048, 4096 /* past the pool: system allocator */};

}  // namespace

TEST_CASE("frame pool: frames allocated on some threads and freed on others are never handed out twice",
          "[task][frame_pool][stress]") {
    goro_test::watchdog dog("frame pool", std::chrono::seconds(300));
    pool_reached_or_warned();
    constexpr int k_producers = 2, k_consumers = 2;
    const int per_producer = 400'000 / goro_test::stress_divisor;
    handoff queue;
    std::atomic<std::uint64_t> next_stamp{1};
    std::atomic<long> freed{0}, corrupted{0};

    auto producer = [&] {
        std::vector<stamped> batch;
        std::vector<stamped> kept;  // some frames die on the thread that made them
        for (int i = 0; i < per_producer; ++i) {
            const std::size_t size = k_sizes[static_cast<std::size_t>(i) % std::size(k_sizes)];
            stamped s{pool_allocate_frame(size), size, next_stamp.fetch_add(1, std::memory_order_relaxed)};
            fill(s);
            if (i % 5 == 0) {
                kept.push_back(s);
            } else {
                batch.push_back(s);
            }
            if (batch.size() == 300) queue.push(std::exchange(batch, {}));
            if (kept.size() == 200) {
                for (const stamped& k : kept) {
                    if (!intact(k)) corrupted.fetch_add(1);
                    pool_free_frame(k.block, k.size);
                    freed.fetch_add(1, std::memory_order_relaxed);
                }
                kept.clear();
            }
        }
        queue.push(std::move(batch));
        for (const stamped& k : kept) {
            if (!intact(k)) corrupted.fetch_add(1);
            pool_free_frame(k.block, k.size);
            freed.fetch_add(1, std::memory_order_relaxed);
        }
    };
    auto consumer = [&] {
        std::vector<stamped> batch;
        while (queue.pop(batch)) {
            // Allocate a little here too, so that this thread's lists both
            // fill from foreign frees and drain into its own allocations.
            std::vector<stamped> own;
            for (int i = 0; i < 20; ++i) {
                stamped s{pool_allocate_frame(64), 64, next_stamp.fetch_add(1, std::memory_order_relaxed)};
                fill(s);
                own.push_back(s);
            }
            for (const stamped& s : batch) {
                if (!intact(s)) corrupted.fetch_add(1);
                pool_free_frame(s.block, s.size);
                freed.fetch_add(1, std::memory_order_relaxed);
            }
            for (const stamped& s : own) {
                if (!intact(s)) corrupted.fetch_add(1);
                pool_free_frame(s.block, s.size);
            }
        }
    };

    std::vector<std::thread> producers, consumers;
    for (int i = 0; i < k_consumers; ++i) consumers.emplace_back(consumer);
    for (int i = 0; i < k_producers; ++i) producers.emplace_back(producer);
    for (auto& t : producers) t.join();
    queue.close();
    for (auto& t : consumers) t.join();  // exiting threads hand their lists back

    REQUIRE(corrupted.load() == 0);
    REQUIRE(freed.load() == static_cast<long>(k_producers) * per_producer);

    // What the exited threads handed back is reused: a fresh thread's
    // allocations come out intact and distinct.
    std::thread([&] {
        std::vector<stamped> live;
        for (int i = 0; i < 5'000; ++i) {
            stamped s{pool_allocate_frame(200), 200, next_stamp.fetch_add(1)};
            fill(s);
            live.push_back(s);
        }
        for (const stamped& s : live) {
            if (!intact(s)) corrupted.fetch_add(1);
            pool_free_frame(s.block, s.size);
        }
    }).join();
    REQUIRE(corrupted.load() == 0);
}

// A thread whose first call into the pool is a free (a consumer that never
// allocates) keeps what it frees on its own list and must hand it back when
// it exits; so must one whose list overflowed. The central stacks are LIFO,
// so the next thread to refill that size class gets the last batch handed
// back: blocks the exited thread freed. (A size class no other test uses.)
TEST_CASE("frame pool: a thread that only frees hands its blocks back when it exits", "[task][frame_pool]") {
    const bool pooled = pool_reached_or_warned();
    constexpr std::size_t k_size = 1984;
    for (const int count : {10, 300, 1000}) {  // under one batch; past the overflow (256); several batches
        std::vector<stamped> blocks;
        std::uint64_t stamp = 1;
        std::thread([&] {
            for (int i = 0; i < count; ++i) {
                stamped s{pool_allocate_frame(k_size), k_size, stamp++};
                fill(s);
                blocks.push_back(s);
            }
        }).join();
        long corrupted = 0;
        std::thread([&] {
            for (const stamped& s : blocks) {
                if (!intact(s)) ++corrupted;
                pool_free_frame(s.block, s.size);
            }
        }).join();
        REQUIRE(corrupted == 0);
        void* reused = nullptr;
        std::thread([&] {
            reused = pool_allocate_frame(k_size);
            pool_free_frame(reused, k_size);
        }).join();
        bool among_freed = false;
        for (const stamped& s : blocks) among_freed = among_freed || s.block == reused;
        if (pooled) CHECK(among_freed);
    }
}

// A task's ramp pops its frame's block inline (allocate_task_frame_inline,
// where GORO_INLINE_FRAME_ALLOCATION is defined), reaching the thread's
// lists through an asm by the symbol's name: the lists it reaches must be
// the very ones the library pushes to, or a freed block would never come
// back (or worse, come back twice). Two classes of the pool, and a frame
// past it (the system allocator's, whichever way it is allocated). Where
// the pool is off (sanitizers, or GORO_DEBUG=framepool=0), every frame
// comes from the system allocator and only its round trip is checked.
TEST_CASE("frame pool: a task's inlined allocation takes the block the library just freed on its thread",
          "[task][frame_pool]") {
    using namespace goro::detail;
    for (const std::size_t size : {std::size_t{200}, std::size_t{1200}, k_max_pooled_frame + 100}) {
        INFO("frame of " << size << " bytes");
        const bool pooled = frame_pool_enabled() && size + k_task_frame_header <= k_max_pooled_frame;
        std::thread([&] {
            // A task frame allocated and freed by the library: a pooled
            // block is now at the head of this thread's list of its class.
            void* first = allocate_task_frame(size);
            free_finished_task_frame(first);
            void* again = allocate_task_frame_inline<true>(size);
            CHECK(frees_directly(again));
            if (pooled) CHECK(again == first);
            free_finished_task_frame(again);
            // The nontrivial kind: its check word never passes.
            void* other = allocate_task_frame_inline<false>(size);
            CHECK_FALSE(frees_directly(other));
            if (pooled) CHECK(other == first);
            free_task_frame(other, size);
        }).join();
    }
}
