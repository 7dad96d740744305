// work_deque: the bounded Chase–Lev deque under concurrent thieves.
#include <catch2/catch.hpp>

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <thread>
#include <vector>

#include "../runtime/detail/work_deque.hpp"
#include "support/watchdog.hpp"

using namespace std::chrono_literals;

namespace {

struct item {
    int id;
};

// An item that carries its index in the deque (deque_indexed), as a
// goroutine does: one byte, so indexes wrap every 256 items. take() finds it
// by its index; `item` above exercises the search that other types get.
struct indexed_item {
    int id;
    std::atomic<std::uint8_t> deque_index{0};
};
// The same with the whole of a 32-bit index (no wrap within a test).
struct wide_indexed_item {
    int id;
    std::atomic<std::uint32_t> deque_index{0};
};
static_assert(!goro::detail::deque_indexed<item>);
static_assert(goro::detail::deque_indexed<indexed_item>);
static_assert(goro::detail::deque_indexed<wide_indexed_item>);

constexpr int k_scale = goro_test::stress_divisor;  // sanitizer builds: 10x fewer iterations

// The asymmetric mode's heavy fence, as the scheduler's steal_fence
// (work_deque.hpp). Registered once; the tests of that mode skip where the
// kernel refuses it.
bool membarrier_registered() {
    static const bool ok = ::syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
    return ok;
}
// (Called by the thieves' threads: no REQUIRE there, Catch2 is not
// thread-safe.)
void heavy_fence() {
    if (::syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) != 0) {
        std::fprintf(stderr, "membarrier(2) failed after registration\n");
        std::abort();
    }
}

// The owner's side of a stress test against concurrent thieves: k_items
// items, a small deque (many wrap-arounds), thieves stealing until finish(),
// and a count of how often each item was taken (by the owner: took()).
// With an indexed Item, each thief rewrites the index of what it steals, as
// its own deque's push would (the scheduler's "steal half" pushes what it
// steals), while the owner's take() may be reading it.
template <std::size_t Capacity, typename Item = item>
class thief_harness {
public:
    goro::detail::work_deque<Item, Capacity> dq;
    std::vector<Item> items;

    /// asymmetric: the deque's asymmetric mode, the thieves stealing in
    /// sessions of a few steals, each opened with the heavy fence.
    thief_harness(int n_items, int n_thieves, bool asymmetric = false)
        : items(n_items), m_taken(n_items), m_by_thief(n_items) {
        for (int i = 0; i < n_items; ++i) items[i].id = i;
        if (asymmetric) dq.set_asymmetric();
        for (int t = 0; t < n_thieves; ++t) m_thieves.emplace_back([this] { steal_until_done(); });
    }

    /// The owner took `it` (pop or take).
    void took(const Item* it) { m_taken[it->id].fetch_add(1, std::memory_order_relaxed); }
    /// Whether a thief took item `id` (exact once finish() returned).
    bool stolen(int id) const { return m_by_thief[id].load(std::memory_order_relaxed) != 0; }
    /// Whether anyone took item `id` so far.
    bool taken(int id) const { return m_taken[id].load(std::memory_order_relaxed) != 0; }
    /// Steals so far.
    long stolen_so_far() const { return m_live_steals.load(std::memory_order_relaxed); }

    /// Half-way, makes sure the thieves take part (on a loaded machine they
    /// may not have been scheduled yet): leaves work in the deque and waits
    /// until one of them has stolen something. `next`: the next item to push.
    void wait_for_a_steal(int& next) {
        while (dq.size_hint() < 8 && next < static_cast<int>(items.size()) && dq.push(&items[next])) ++next;
        while (m_live_steals.load(std::memory_order_relaxed) == 0) std::this_thread::yield();
    }

    struct outcome {
        long lost = 0, duplicated = 0, stolen = 0;
    };
    /// The owner pops what is left (counted in *by_owner), stops the thieves
    /// and counts the items taken never or more than once.
    outcome finish(long* by_owner) {
        while (Item* it = dq.pop()) {
            took(it);
            ++*by_owner;
        }
        m_done.store(true, std::memory_order_release);
        for (auto& t : m_thieves) t.join();
        m_thieves.clear();
        outcome out;
        for (auto& n : m_taken) {
            if (n.load() == 0) ++out.lost;
            if (n.load() > 1) ++out.duplicated;
        }
        out.stolen = m_stolen.load();
        return out;
    }
    ~thief_harness() {
        m_done.store(true, std::memory_order_release);
        for (auto& t : m_thieves) t.join();
    }

private:
    void steal_until_done() {
        long mine = 0;
        std::uint32_t rng = 99;
        while (!m_done.load(std::memory_order_acquire)) {
            // A session of up to 4 steals (a "steal half"), as steal_from.
            typename decltype(dq)::steal_session session(dq);
            if (session.needs_fence()) heavy_fence();
            for (int k = 0; k < 4; ++k) {
                Item* it = nullptr;
                const auto r = dq.steal(it);
                if (r == decltype(dq)::steal_result::empty) break;
                if (r != decltype(dq)::steal_result::success) continue;
                if constexpr (goro::detail::deque_indexed<Item>) {
                    // The next holder's push (work_deque::push stores it so).
                    rng = rng * 1103515245u + 12345u;
                    it->deque_index.store(static_cast<decltype(it->deque_index.load())>(rng >> 8),
                                          std::memory_order_release);
                }
                m_by_thief[it->id].store(1, std::memory_order_relaxed);
                m_taken[it->id].fetch_add(1, std::memory_order_relaxed);
                ++mine;
                m_live_steals.fetch_add(1, std::memory_order_relaxed);
            }
        }
        m_stolen.fetch_add(mine);
    }

    std::vector<std::atomic<int>> m_taken;
    std::vector<std::atomic<char>> m_by_thief;
    std::atomic<bool> m_done{false};
    std::atomic<long> m_stolen{0};
    std::atomic<long> m_live_steals{0};  // for wait_for_a_steal
    std::vector<std::thread> m_thieves;
};

}  // namespace

TEST_CASE("deque: owner push/pop is LIFO, steal is FIFO", "[sched][deque]") {
    goro::detail::work_deque<item, 8> dq;
    item items[8];
    for (int i = 0; i < 8; ++i) {
        items[i].id = i;
        REQUIRE(dq.push(&items[i]));
    }
    item extra{99};
    REQUIRE_FALSE(dq.push(&extra));  // full
    item* stolen = nullptr;
    REQUIRE(dq.steal(stolen) == decltype(dq)::steal_result::success);
    REQUIRE(stolen->id == 0);
    REQUIRE(dq.pop()->id == 7);
    REQUIRE(dq.pop()->id == 6);
    REQUIRE(dq.size_hint() == 5);
    while (dq.pop()) {}
    REQUIRE(dq.pop() == nullptr);
    REQUIRE(dq.steal(stolen) == decltype(dq)::steal_result::empty);
}

// newest_hint (fork_join.cpp's test for its own promoted child): the item
// pop would take next, after pushes, steals, takes that move the newest
// into a hole, and wrap-around; nullptr once the deque is empty.
TEMPLATE_TEST_CASE("deque: newest_hint names the item pop would take", "[sched][deque]", item, indexed_item) {
    goro::detail::work_deque<TestType, 8> dq;
    REQUIRE(dq.newest_hint() == nullptr);
    TestType items[12];
    for (int i = 0; i < 12; ++i) items[i].id = i;
    for (int i = 0; i < 5; ++i) {
        REQUIRE(dq.push(&items[i]));
        REQUIRE(dq.newest_hint() == &items[i]);
    }
    TestType* stolen = nullptr;
    REQUIRE(dq.steal(stolen) == decltype(dq)::steal_result::success);  // 0: the newest stays
    REQUIRE(dq.newest_hint() == &items[4]);
    REQUIRE(dq.take(&items[2], 8));  // 4 moves into 2's slot: 3 is the newest
    REQUIRE(dq.newest_hint() == &items[3]);
    for (int i = 5; i < 12; ++i) {  // past the buffer's end: the slots wrap
        if (dq.size_hint() == 8) REQUIRE(dq.steal(stolen) == decltype(dq)::steal_result::success);
        REQUIRE(dq.push(&items[i]));
        REQUIRE(dq.newest_hint() == &items[i]);
    }
    while (TestType* newest = dq.newest_hint()) REQUIRE(dq.pop() == newest);
    REQUIRE(dq.pop() == nullptr);
    REQUIRE(dq.steal(stolen) == decltype(dq)::steal_result::empty);  // the last one went to pop
}

// Every item pushed is taken exactly once, by the owner or by one of the
// thieves, across millions of operations and wrap-arounds of a small buffer.
TEST_CASE("deque stress: nothing lost or duplicated with concurrent thieves", "[sched][deque][stress]") {
    constexpr int k_items = 2'000'000 / k_scale;
    thief_harness<64> h(k_items, 3);
    auto& dq = h.dq;
    long popped = 0;
    int next = 0;
    unsigned rng = 12345;
    bool waited_for_thieves = false;
    while (next < k_items) {
        if (!waited_for_thieves && next >= k_items / 2) {
            waited_for_thieves = true;
            h.wait_for_a_steal(next);
        }
        rng = rng * 1103515245 + 12345;
        const int burst = 1 + (rng >> 16) % 48;
        for (int k = 0; k < burst && next < k_items; ++k) {
            if (!dq.push(&h.items[next])) break;
            ++next;
        }
        const int pops = (rng >> 8) % 40;
        for (int k = 0; k < pops; ++k) {
            item* it = dq.pop();
            if (!it) break;
            h.took(it);
            ++popped;
        }
    }
    const auto out = h.finish(&popped);
    INFO("popped " << popped << ", stolen " << out.stolen);
    REQUIRE(out.lost == 0);
    REQUIRE(out.duplicated == 0);
    REQUIRE(popped + out.stolen == k_items);
    REQUIRE(out.stolen > 0);  // the thieves did take part
}

// The last-item race: owner pop and thief steal on a one-element deque.
TEST_CASE("deque stress: last item goes to exactly one of owner and thief", "[sched][deque][stress]") {
    const bool asymmetric = GENERATE(false, true);
    if (asymmetric && !membarrier_registered()) {
        WARN("membarrier(2) refused: the asymmetric mode goes untested");
        return;
    }
    INFO("asymmetric mode: " << asymmetric);
    constexpr int k_rounds = 200'000 / k_scale;
    goro::detail::work_deque<item, 4> dq;
    if (asymmetric) dq.set_asymmetric();
    item it{0};
    std::atomic<int> phase{0};  // owner publishes round r as 2r+1
    std::atomic<int> thief_got{0};
    std::thread thief([&] {
        for (int r = 0; r < k_rounds; ++r) {
            while (phase.load(std::memory_order_acquire) != 2 * r + 1) {}
            item* x = nullptr;
            decltype(dq)::steal_session session(dq);
            if (session.needs_fence()) heavy_fence();
            thief_got.store(dq.steal(x) == decltype(dq)::steal_result::success ? 1 : 0, std::memory_order_relaxed);
            phase.store(2 * r + 2, std::memory_order_release);
        }
    });
    int both = 0, neither = 0;
    for (int r = 0; r < k_rounds; ++r) {
        REQUIRE(dq.push(&it));
        phase.store(2 * r + 1, std::memory_order_release);
        const bool owner_got = dq.pop() != nullptr;
        while (phase.load(std::memory_order_acquire) != 2 * r + 2) {}
        const bool thief = thief_got.load(std::memory_order_relaxed) == 1;
        if (owner_got && thief) ++both;
        if (!owner_got && !thief) ++neither;
    }
    thief.join();
    REQUIRE(both == 0);
    REQUIRE(neither == 0);
}

// work_deque::take (issue 14, item 3): the joiner's fast path for a child
// under its younger siblings.
// Each with an item type found by its index and one found by the search.
TEMPLATE_TEST_CASE("deque: take removes an item among the newest, the newest taking its slot", "[sched][deque]",
                   item, indexed_item) {
    goro::detail::work_deque<TestType, 16> dq;
    // The same sequence with and without thieves possible (one processor:
    // set_no_thieves drops the exchange, not the bookkeeping).
    const bool no_thieves = GENERATE(false, true);
    if (no_thieves) dq.set_no_thieves();
    TestType items[10];
    for (int i = 0; i < 10; ++i) {
        items[i].id = i;
        REQUIRE(dq.push(&items[i]));
    }
    TestType absent{};
    absent.id = 99;
    REQUIRE_FALSE(dq.take(&absent, 16));
    REQUIRE_FALSE(dq.take(&items[2], 7));  // 8 deep: beyond the search
    REQUIRE(dq.take(&items[2], 8));         // 9, the newest, moves into its slot
    REQUIRE_FALSE(dq.take(&items[2], 16));  // gone
    REQUIRE_FALSE(dq.take(&items[9], 1));   // no longer the newest: 8 is
    REQUIRE(dq.take(&items[9], 7));         // 8 moves into its slot
    REQUIRE(dq.take(&items[0], 16));        // the oldest: raced for through top
    REQUIRE(dq.take(&items[7], 1));         // the newest
    REQUIRE(dq.size_hint() == 6);
    TestType* stolen = nullptr;
    REQUIRE(dq.steal(stolen) == decltype(dq)::steal_result::success);
    REQUIRE(stolen->id == 1);
    for (int expect : {6, 5, 4, 3, 8}) REQUIRE(dq.pop()->id == expect);
    REQUIRE(dq.pop() == nullptr);
    REQUIRE(dq.push(&items[4]));
    REQUIRE(dq.take(&items[4], 1));  // the only item
    REQUIRE(dq.pop() == nullptr);
}

// Joins in spawn order, twice over: each item but the first has been moved
// into a hole by the take before (its index must follow it), and an item
// taken once must not be found again.
TEMPLATE_TEST_CASE("deque: take in spawn order takes each item once, the rest staying in order", "[sched][deque]",
                   item, indexed_item) {
    goro::detail::work_deque<TestType, 64> dq;
    const bool no_thieves = GENERATE(false, true);
    if (no_thieves) dq.set_no_thieves();
    TestType older{};
    older.id = 100;
    REQUIRE(dq.push(&older));
    for (int round = 0; round < 2; ++round) {
        TestType items[10];
        for (int i = 0; i < 10; ++i) {
            items[i].id = i;
            REQUIRE(dq.push(&items[i]));
        }
        for (int i = 0; i < 10; ++i) {
            REQUIRE(dq.take(&items[i], 32));
            REQUIRE_FALSE(dq.take(&items[i], 32));  // gone: its stale slot must not be taken again
        }
        REQUIRE(dq.size_hint() == 1);
    }
    REQUIRE_FALSE(dq.take(&older, 0));
    REQUIRE(dq.take(&older, 1));
    REQUIRE(dq.pop() == nullptr);
}

// Every item is taken exactly once while the owner takes items from under
// newer ones (any depth, the oldest included) and thieves steal from the top.
TEST_CASE("deque stress: take, pop and steal never lose or duplicate an item", "[sched][deque][stress]") {
    const bool asymmetric = GENERATE(false, true);
    if (asymmetric && !membarrier_registered()) {
        WARN("membarrier(2) refused: the asymmetric mode goes untested");
        return;
    }
    INFO("asymmetric mode: " << asymmetric);
    goro_test::watchdog dog("deque take stress", 120s);
    constexpr int k_items = 2'000'000 / k_scale;
    thief_harness<64> h(k_items, 2, asymmetric);
    auto& dq = h.dq;
    long by_owner = 0, deep_takes = 0, oldest_takes = 0;
    int next = 0;
    unsigned rng = 777;
    bool waited_for_thieves = false;
    while (next < k_items) {
        if (!waited_for_thieves && next >= k_items / 2) {
            waited_for_thieves = true;
            h.wait_for_a_steal(next);
        }
        rng = rng * 1103515245 + 12345;
        const int burst = 1 + (rng >> 16) % 16;
        for (int k = 0; k < burst && next < k_items; ++k) {
            if (!dq.push(&h.items[next])) break;
            ++next;
        }
        // Take some of the last burst in spawn order (oldest first), as a
        // joiner would: an item may be gone already (stolen), and then take
        // must say so. Every other burst newest first instead, as a
        // join_all does (take's NewestFirst form).
        const int takes = (rng >> 8) % 20;
        const bool newest_first = (rng >> 20) % 2 == 0;
        for (int k = 0; k < takes && k < burst && next - burst + k >= 0; ++k) {
            if (newest_first) {
                item* want = &h.items[next - 1 - k];
                if (dq.take<true>(want, 32)) {
                    h.took(want);
                    ++by_owner;
                }
                continue;
            }
            item* want = &h.items[next - burst + k];
            const std::size_t size_before = dq.size_hint();
            if (dq.take(want, 32)) {
                h.took(want);
                ++by_owner;
                if (burst - k > 1) ++deep_takes;
                if (size_before == static_cast<std::size_t>(burst - k)) ++oldest_takes;
            }
        }
        // The owner switches who fences now and then (set_owner_fences),
        // as the scheduler does for a deque stolen from often.
        if (asymmetric && (rng >> 12) % 8 == 0) dq.set_owner_fences((rng >> 15) % 2 == 0);
        if ((rng >> 4) % 3 == 0) {
            if (item* it = dq.pop()) {
                h.took(it);
                ++by_owner;
            }
        }
    }
    const auto out = h.finish(&by_owner);
    INFO("owner " << by_owner << " (deep takes " << deep_takes << ", oldest " << oldest_takes << "), stolen "
                  << out.stolen);
    REQUIRE(out.lost == 0);
    REQUIRE(out.duplicated == 0);
    REQUIRE(by_owner + out.stolen == k_items);
    REQUIRE(out.stolen > 0);
    REQUIRE(deep_takes > 0);
}

namespace {

// take() against a model of the deque, one thread (so that every outcome is
// exact): random pushes, takes at any depth (the newest, the oldest, any
// slot in between, which earlier takes may have filled with a moved item),
// takes of absent items and beyond max_depth, pops and steals (the owner
// acting as a thief), the contents compared after each step. `max_live`
// above 256 puts items deeper than a one-byte index's window.
template <typename Item, std::size_t Capacity>
void take_against_model(bool no_thieves, int steps, std::size_t max_live, std::uint32_t seed) {
    goro::detail::work_deque<Item, Capacity> dq;
    if (no_thieves) dq.set_no_thieves();
    std::vector<Item> pool(2 * max_live + 8);
    for (std::size_t i = 0; i < pool.size(); ++i) pool[i].id = static_cast<int>(i);
    std::vector<Item*> free_items;  // not in the deque
    for (auto& it : pool) free_items.push_back(&it);
    std::deque<Item*> model;  // front: top (the oldest), back: the newest
    std::uint32_t rng = seed;
    auto next = [&](std::uint32_t n) {
        rng = rng * 1103515245u + 12345u;
        return (rng >> 8) % n;
    };
    long takes = 0, moved_takes = 0;
    std::vector<char> was_moved(pool.size(), 0);  // moved by a take since its push
    for (int step = 0; step < steps; ++step) {
        // Pushes more often while the deque is under half full, so that it
        // fills up to max_live, then hovers there.
        const std::uint32_t push_pct = model.size() < max_live / 2 ? 60 : 35;
        const std::uint32_t op = next(100) < push_pct ? 0 : 35 + next(65);
        if (op < 35 && model.size() < max_live) {
            Item* it = free_items[next(static_cast<std::uint32_t>(free_items.size()))];
            std::erase(free_items, it);
            REQUIRE(dq.push(it));
            model.push_back(it);
            was_moved[it->id] = 0;
        } else if (op < 80 && !model.empty()) {
            // Take the item `depth` deep: found, unless max_depth is short of it.
            const std::size_t depth = 1 + next(static_cast<std::uint32_t>(model.size()));
            const std::size_t pos = model.size() - depth;
            Item* want = model[pos];
            const bool short_of_it = next(8) == 0;
            const std::size_t max_depth = short_of_it ? depth - 1 : depth + next(4);
            INFO("step " << step << ": take at depth " << depth << " of " << model.size() << ", max_depth "
                         << max_depth << ", moved before " << int(was_moved[want->id]));
            // Either form of take: NewestFirst (a join_all's) reads the
            // newest slot first, with the same outcome.
            const bool newest_first = next(2) == 0;
            const bool taken =
                newest_first ? dq.template take<true>(want, max_depth) : dq.take(want, max_depth);
            REQUIRE(taken == !short_of_it);
            if (!short_of_it) {
                ++takes;
                if (was_moved[want->id]) ++moved_takes;
                if (depth == model.size()) {
                    model.pop_front();  // the oldest: top moves past it
                } else if (depth > 1) {
                    model[pos] = model.back();  // the newest fills the hole
                    was_moved[model[pos]->id] = 1;
                    model.pop_back();
                } else {
                    model.pop_back();
                }
                free_items.push_back(want);
            }
        } else if (op < 88) {
            // An item not in the deque (perhaps in a stale slot) is not found.
            Item* absent = free_items[next(static_cast<std::uint32_t>(free_items.size()))];
            REQUIRE_FALSE(dq.take(absent, Capacity));
            REQUIRE_FALSE(dq.template take<true>(absent, Capacity));
        } else if (op < 95) {
            Item* it = dq.pop();
            REQUIRE(it == (model.empty() ? nullptr : model.back()));
            if (it) {
                model.pop_back();
                free_items.push_back(it);
            }
        } else {
            Item* it = nullptr;
            const auto r = dq.steal(it);
            REQUIRE((r == decltype(dq)::steal_result::success) == !model.empty());
            if (!model.empty()) {
                REQUIRE(it == model.front());
                model.pop_front();
                free_items.push_back(it);
            }
        }
        std::vector<Item*> contents;
        dq.for_each_racy([&](Item* it) { contents.push_back(it); });
        REQUIRE(contents == std::vector<Item*>(model.begin(), model.end()));
    }
    INFO("takes " << takes << ", of moved items " << moved_takes);
    REQUIRE(moved_takes > 0);
}

}  // namespace

TEMPLATE_TEST_CASE("deque: take finds an item at any depth, after earlier takes moved items into holes",
                   "[sched][deque]", item, indexed_item, wide_indexed_item) {
    const bool no_thieves = GENERATE(false, true);
    INFO("no thieves: " << no_thieves);
    take_against_model<TestType, 64>(no_thieves, 20'000, 40, 4242);
}

// Items deeper than a one-byte index's window (256): take() looks at every
// 256th slot from the newest that the index names, no further.
TEMPLATE_TEST_CASE("deque: take finds an item deeper than its index's window", "[sched][deque]", indexed_item,
                   wide_indexed_item) {
    const bool no_thieves = GENERATE(false, true);
    INFO("no thieves: " << no_thieves);
    take_against_model<TestType, 1024>(no_thieves, 6'000, 700, 777);
}

// take() at any depth among the owner's newest items, holes filled by earlier
// takes, while thieves steal from the top and rewrite the index of what they
// steal (as their own deque's push would) while the owner may be reading it.
// The owner keeps at most 32 of its items unaccounted for, so that each one
// still in the deque is within take()'s depth: a take that says "gone" must
// then be right, which is checked at the end (the item went to a thief, and
// the owner never popped it).
TEST_CASE("deque stress: take at any depth never misses an item in the deque", "[sched][deque][stress]") {
    const bool asymmetric = GENERATE(false, true);
    if (asymmetric && !membarrier_registered()) {
        WARN("membarrier(2) refused: the asymmetric mode goes untested");
        return;
    }
    INFO("asymmetric mode: " << asymmetric);
    goro_test::watchdog dog("deque take-any-depth stress", 120s);
    constexpr int k_items = 1'000'000 / k_scale;
    constexpr std::size_t k_depth = 32;
    thief_harness<64, indexed_item> h(k_items, 2, asymmetric);
    auto& dq = h.dq;
    std::vector<indexed_item*> mine;  // pushed, not taken by the owner, not known stolen
    std::vector<char> said_gone(k_items, 0);
    long by_owner = 0, takes = 0, deep_takes = 0, gone = 0, popped_said_gone = 0;
    int next = 0;
    unsigned rng = 31337;
    bool waited_for_thieves = false;
    while (next < k_items) {
        if (!waited_for_thieves && next >= k_items / 2) {
            waited_for_thieves = true;
            // As the harness's, but within the 32 items the owner tracks.
            while (mine.size() < k_depth && next < k_items && dq.push(&h.items[next])) mine.push_back(&h.items[next++]);
            while (h.stolen_so_far() == 0) std::this_thread::yield();
        }
        // Forget what thieves have taken.
        std::erase_if(mine, [&](indexed_item* it) { return h.taken(it->id); });
        rng = rng * 1103515245 + 12345;
        const int burst = 1 + static_cast<int>((rng >> 16) % 12);
        for (int k = 0; k < burst && next < k_items && mine.size() < k_depth; ++k) {
            if (!dq.push(&h.items[next])) break;
            mine.push_back(&h.items[next++]);
        }
        const int n_takes = static_cast<int>((rng >> 8) % 8);
        for (int k = 0; k < n_takes && !mine.empty(); ++k) {
            rng = rng * 1103515245 + 12345;
            const std::size_t pick = (rng >> 8) % mine.size();
            indexed_item* want = mine[pick];
            mine.erase(mine.begin() + static_cast<std::ptrdiff_t>(pick));
            ++takes;
            // Usually under newer items (a picked item is rarely the newest
            // of several); size_hint is a racy count, enough for a tally.
            const bool among_others = dq.size_hint() > 1;
            if (dq.take(want, k_depth)) {
                h.took(want);
                ++by_owner;
                if (among_others) ++deep_takes;
            } else {
                said_gone[want->id] = 1;
                ++gone;
            }
        }
        if (asymmetric && (rng >> 12) % 8 == 0) dq.set_owner_fences((rng >> 15) % 2 == 0);
        if ((rng >> 4) % 4 == 0) {
            if (indexed_item* it = dq.pop()) {
                if (said_gone[it->id]) ++popped_said_gone;
                h.took(it);
                ++by_owner;
                std::erase(mine, it);
            }
        }
    }
    // What the owner pops now must not include an item take() said was gone.
    while (indexed_item* it = dq.pop()) {
        if (said_gone[it->id]) ++popped_said_gone;
        h.took(it);
        ++by_owner;
    }
    const auto out = h.finish(&by_owner);
    long said_gone_not_stolen = 0;
    for (int i = 0; i < k_items; ++i)
        if (said_gone[i] && !h.stolen(i)) ++said_gone_not_stolen;
    INFO("owner " << by_owner << " (takes " << takes << ", deep " << deep_takes << ", said gone " << gone
                  << "), stolen " << out.stolen);
    REQUIRE(out.lost == 0);
    REQUIRE(out.duplicated == 0);
    REQUIRE(by_owner + out.stolen == k_items);
    REQUIRE(popped_said_gone == 0);
    REQUIRE(said_gone_not_stolen == 0);
    REQUIRE(out.stolen > 0);
    REQUIRE(deep_takes > 0);
}
