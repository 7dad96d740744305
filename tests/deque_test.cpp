// work_deque: the bounded Chase–Lev deque under concurrent thieves.
#include <catch2/catch.hpp>

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "../runtime/detail/work_deque.hpp"
#include "support/watchdog.hpp"

using namespace std::chrono_literals;

namespace {

struct item {
    int id;
};

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
template <std::size_t Capacity>
class thief_harness {
public:
    goro::detail::work_deque<item, Capacity> dq;
    std::vector<item> items;

    /// asymmetric: the deque's asymmetric mode, the thieves stealing in
    /// sessions of a few steals, each opened with the heavy fence.
    thief_harness(int n_items, int n_thieves, bool asymmetric = false) : items(n_items), m_taken(n_items) {
        for (int i = 0; i < n_items; ++i) items[i].id = i;
        if (asymmetric) dq.set_asymmetric();
        for (int t = 0; t < n_thieves; ++t) m_thieves.emplace_back([this] { steal_until_done(); });
    }

    /// The owner took `it` (pop or take).
    void took(const item* it) { m_taken[it->id].fetch_add(1, std::memory_order_relaxed); }

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
        while (item* it = dq.pop()) {
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
        while (!m_done.load(std::memory_order_acquire)) {
            // A session of up to 4 steals (a "steal half"), as steal_from.
            typename decltype(dq)::steal_session session(dq);
            if (session.needs_fence()) heavy_fence();
            for (int k = 0; k < 4; ++k) {
                item* it = nullptr;
                const auto r = dq.steal(it);
                if (r == decltype(dq)::steal_result::empty) break;
                if (r != decltype(dq)::steal_result::success) continue;
                m_taken[it->id].fetch_add(1, std::memory_order_relaxed);
                ++mine;
                m_live_steals.fetch_add(1, std::memory_order_relaxed);
            }
        }
        m_stolen.fetch_add(mine);
    }

    std::vector<std::atomic<int>> m_taken;
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
TEST_CASE("deque: take removes an item among the newest, the newest taking its slot", "[sched][deque]") {
    goro::detail::work_deque<item, 16> dq;
    // The same sequence with and without thieves possible (one processor:
    // set_no_thieves drops the exchange, not the bookkeeping).
    const bool no_thieves = GENERATE(false, true);
    if (no_thieves) dq.set_no_thieves();
    item items[10];
    for (int i = 0; i < 10; ++i) {
        items[i].id = i;
        REQUIRE(dq.push(&items[i]));
    }
    item absent{99};
    REQUIRE_FALSE(dq.take(&absent, 16));
    REQUIRE_FALSE(dq.take(&items[2], 7));  // 8 deep: beyond the search
    REQUIRE(dq.take(&items[2], 8));         // 9, the newest, moves into its slot
    REQUIRE_FALSE(dq.take(&items[2], 16));  // gone
    REQUIRE_FALSE(dq.take(&items[9], 1));   // no longer the newest: 8 is
    REQUIRE(dq.take(&items[9], 7));         // 8 moves into its slot
    REQUIRE(dq.take(&items[0], 16));        // the oldest: raced for through top
    REQUIRE(dq.take(&items[7], 1));         // the newest
    REQUIRE(dq.size_hint() == 6);
    item* stolen = nullptr;
    REQUIRE(dq.steal(stolen) == decltype(dq)::steal_result::success);
    REQUIRE(stolen->id == 1);
    for (int expect : {6, 5, 4, 3, 8}) REQUIRE(dq.pop()->id == expect);
    REQUIRE(dq.pop() == nullptr);
    REQUIRE(dq.push(&items[4]));
    REQUIRE(dq.take(&items[4], 1));  // the only item
    REQUIRE(dq.pop() == nullptr);
}

// Joins in spawn order (take's hint: the slot after the last take's), twice
// over, with a stale hint between the runs and items spawned in between.
TEST_CASE("deque: take in spawn order takes each item once, the rest staying in order", "[sched][deque]") {
    goro::detail::work_deque<item, 64> dq;
    const bool no_thieves = GENERATE(false, true);
    if (no_thieves) dq.set_no_thieves();
    item older{100};
    REQUIRE(dq.push(&older));
    for (int round = 0; round < 2; ++round) {
        item items[10];
        for (int i = 0; i < 10; ++i) {
            items[i].id = i;
            REQUIRE(dq.push(&items[i]));
        }
        for (int i = 0; i < 10; ++i) {
            REQUIRE(dq.take(&items[i], 32));
            REQUIRE_FALSE(dq.take(&items[i], 32));  // gone: the hint must not find it again
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
        // must say so.
        const int takes = (rng >> 8) % 20;
        for (int k = 0; k < takes && k < burst && next - burst + k >= 0; ++k) {
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
