// work_deque<T*> — a bounded Chase–Lev work-stealing deque.
//
// Papers: D. Chase and Y. Lev, "Dynamic Circular Work-Stealing Deque", SPAA
// 2005; N. M. Lê, A. Pop, A. Cohen, F. Zappa Nardelli, "Correct and Efficient
// Work-Stealing for Weak Memory Models", PPoPP 2013 (the algorithm of their
// figure 1, with the buffer fixed in size; the fences are replaced as below).
//
// The one subtle race: the owner pops the last item (writes bottom, then reads
// top) while a thief steals it (reads top, then bottom). Each side's store must
// be visible to the other's later load, a store-load ordering. Here the owner
// writes bottom with a seq_cst exchange and reads top seq_cst; the thief reads
// top and then bottom seq_cst. All four are in C++'s single total order S:
// if the thief read bottom before the owner's exchange, then (S consistent
// with coherence and sequencing) the owner's read of top comes after the
// thief's read of top and cannot see an older value, so they both see the
// conflict and resolve it by CAS on top. On x86 this costs one XCHG in pop()
// and plain loads in steal(), against an MFENCE in each for the fence form
// (measured: the MFENCE was ~30% of skynet's time on AMD Zen).
//
// Roles: exactly one *owner* thread calls push() and pop() at the bottom;
// any number of *thieves* call steal() at the top (the owner may steal from
// its own deque too: it is then one more thief, never concurrent with its own
// push/pop). The owner's end is LIFO, which keeps fork-join work hot in cache;
// thieves take the oldest item, usually the biggest piece of work.
//
// Invariants:
//  - top only increases (by thieves' CAS, or the owner's CAS for the last item).
//  - bottom - top is the number of items, 0 <= bottom - top <= capacity, except
//    transiently inside pop() where bottom is decremented first (it may then
//    be top - 1 until pop restores it).
//  - slot i & mask holds item i for top <= i < bottom; a slot is rewritten only
//    after top has moved past it, so a thief that read slot t before its CAS
//    on top either wins the CAS (the item is its) or loses (it never uses it).
//    (The one exception, take()'s move of the newest item into a hole, writes
//    a slot the owner has reserved: see take.)
//  - An indexed item (deque_indexed, below) in the deque at index i, top <= i
//    < bottom, holds i modulo 2^bits in its deque_index: the owner writes it
//    at push and when take() moves the item, and no one else writes it while
//    the item is there (a thief writes it only after its CAS took the item
//    out). Checked where the owner can: pop() and take()'s move assert it,
//    take() cross-checks a miss. Nothing but take()'s lookup reads it:
//    thieves, pop() and the correctness argument never depend on it.
//
// The asymmetric mode (set_asymmetric; issue 14, item 3): the owner's
// exchange is the dearest instruction of fork-join code (one per join at
// two processors or more: +22 % CPU time for skynet against one processor,
// where set_no_thieves spares it). Thieves are rare, owners' pops and takes
// constant, so the fence moves to the thieves, as the dump pin does
// (runtime/goroutine_dump.cpp): a thief announces itself in `thieves` and
// then makes every running thread of the process execute a full barrier
// (membarrier(2), the caller's heavy fence) before it reads bottom; the
// owner writes bottom relaxed, then (after a compiler barrier) reads
// `thieves`, and pays the exchange only when it is not zero:
//
//   thief (steal_session)                owner (pop, take)
//   thieves += 1 (seq_cst)               bottom = b (relaxed)
//   membarrier()                         compiler barrier
//   steal(): top, bottom (seq_cst)...    if thieves != 0: bottom.exchange(b)
//   thieves -= 1 (release)               t = top (seq_cst)
//
// If the owner's load of `thieves` comes after the membarrier's barrier on
// its thread, it sees the count and takes the classic path (the exchange,
// then the race argument above). If it comes before, so does its store of
// bottom, which the barrier makes visible: every steal of the session reads
// the new bottom, and so never takes an item at or above it; the owner's
// own read of top may be stale, which only makes it race by CAS for an item
// no thief can take. One membarrier covers a session's steals, so a
// "steal half" pays one. Without the mode (the default), `thieves` stays 1
// and the owner always pays the exchange, as above. A deque stolen from
// often goes back to that for a while (set_owner_fences, decided by its
// owner): its thieves then pay no membarrier, its owner the exchange.
//
// "Steal half" is done by the caller as repeated single steals: the classic
// single-item CAS is what the Chase–Lev correctness argument covers (a batch
// CAS on top races with the owner's CAS-free pops of the items it covers).
//
// take()'s lookup (issue 14, D2): the joiner's fast path removes a given item
// from among the newest ones, wherever earlier takes left it. An item type
// may carry its own index in the deque (deque_indexed: a member
// `std::atomic<U> deque_index`, U unsigned): push() writes it, take()'s move
// of the newest item into a hole rewrites the moved item's, and take() reads
// the wanted item's to find its slot in one read, where a search from the
// newest item would read up to max_depth slots (child 0 of a skynet node sits
// 10 deep). The index is kept modulo 2^bits (bits = min(digits of U, 32)): a
// goroutine spares one byte of padding for it (goroutine.hpp), which names
// the slot exactly within the 256 newest items. It is a hint, never trusted:
// the slot it names must hold the item and lie among the newest `limit`
// (below bottom, above the owner's last view of top), and the reservation
// then decides, as for a slot the search found. The item may have left the
// deque (stolen, or moved to the global queue by an overflow) and its new
// holder may be writing the field as take() reads it: hence an atomic, and
// a field of its own rather than one unused while the item sits in a deque
// (goroutine::queue_next is rewritten by whoever moves a goroutine between
// queues: an overflow links it into the global queue while a joiner's
// take() may still read its index). Item types without the member fall back
// to the search from the newest item.
#pragma once

#include <algorithm>
#include <atomic>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <type_traits>

#include "invariant.hpp"

namespace goro::detail {

namespace deque_detail {
template <typename A>
struct atomic_unsigned : std::false_type {};
template <std::unsigned_integral U>
struct atomic_unsigned<std::atomic<U>> : std::true_type {
    using value_type = U;
    // The index is kept modulo 2^bits: the whole of U, up to 32 bits (an
    // index older than 2^32 items is of no use to a lookup bounded by the
    // capacity).
    static constexpr int bits = std::min(std::numeric_limits<U>::digits, 32);
};
// What T's deque_index holds (T complete).
template <typename T>
using index_field = atomic_unsigned<std::remove_cv_t<decltype(T::deque_index)>>;
}  // namespace deque_detail

/// An item type whose items carry their index in the deque that holds them
/// (the header's "take()'s lookup"): a data member `deque_index` of type
/// std::atomic<U>, U an unsigned integer type. The deque owns its value
/// while the item is in it; it is the item's only field the deque touches.
/// Checked where work_deque's member functions are instantiated (T is then
/// complete), never on the class itself.
template <typename T>
concept deque_indexed = deque_detail::index_field<T>::value;

template <typename T, std::size_t Capacity>
class work_deque {
    static_assert((Capacity & (Capacity - 1)) == 0, "capacity must be a power of two");
    static constexpr std::int64_t k_mask = static_cast<std::int64_t>(Capacity) - 1;

public:
    enum class steal_result { success, empty, lost_race };

    work_deque() {
        for (auto& slot : m_slots) slot.store(nullptr, std::memory_order_relaxed);
    }
    work_deque(const work_deque&) = delete;
    work_deque& operator=(const work_deque&) = delete;

    static constexpr std::size_t capacity() noexcept { return Capacity; }

    /// Checked builds: from now on only the calling thread may push and pop.
    void bind_owner() noexcept { m_owner.bind(); }

    /// Owner only, before its first push: no thread but the owner will ever
    /// call steal() (a runtime with one processor). pop() and take() then
    /// need no exchange: the store-load race they guard against has no
    /// other side. The owner's own steal() calls stay as they are.
    void set_no_thieves() noexcept {
        GORO_ASSERT(m_owner.is_current());
        m_no_thieves = true;
    }

    /// Before any thread uses the deque: thieves other than the owner will
    /// steal only inside a steal_session, whose heavy fence (membarrier(2))
    /// lets the owner's pop and take go without their exchange while no
    /// session is open (see the header).
    void set_asymmetric() noexcept {
        m_asymmetric = true;
        m_thieves.store(0, std::memory_order_relaxed);
    }

    /// A thief's (not the owner's) run of steals. In the asymmetric mode the
    /// caller must run its heavy fence (membarrier(2)) after constructing it
    /// and before the first steal(): see the header. In the default mode it
    /// only counts.
    class steal_session {
    public:
        explicit steal_session(work_deque& dq) noexcept : m_dq(dq) {
            // seq_cst: the count is visible before the caller's heavy fence
            // returns (a locked add on x86), and comes before the load of
            // the owner's flag in the total order (set_owner_fences).
            m_dq.m_thieves.fetch_add(1, std::memory_order_seq_cst);
            m_fence = m_dq.m_asymmetric && !m_dq.m_fenced_by_owner.load(std::memory_order_seq_cst);
        }
        /// Whether the caller must run its heavy fence before stealing: in
        /// the asymmetric mode, unless the owner fences for now.
        bool needs_fence() const noexcept { return m_fence; }
        ~steal_session() {
            // release: the session's steals come before an owner's
            // fence-free path that reads the count at zero.
            m_dq.m_thieves.fetch_sub(1, std::memory_order_release);
        }
        steal_session(const steal_session&) = delete;
        steal_session& operator=(const steal_session&) = delete;

    private:
        work_deque& m_dq;
        bool m_fence = false;
    };

    /// Owner only, in the asymmetric mode: `on` makes the owner pay the
    /// exchange again (its own count in `thieves`) and spares thieves their
    /// heavy fence, for a deque that is being stolen from often; off goes
    /// back. On: the count first, then the flag (release): a thief that
    /// reads the flag set sees every bottom the owner stored before its
    /// count, and the owner's later pops and takes see the count. Off: the
    /// flag cleared, then the count (both seq_cst): a thief whose seq_cst
    /// load still read the flag set made its own count before, in the total
    /// order, and so before the owner's decrement, which the owner's later
    /// loads of the count read past.
    void set_owner_fences(bool on) noexcept {
        GORO_ASSERT(m_owner.is_current());
        if (!m_asymmetric || on == m_owner_fences) return;
        m_owner_fences = on;
        if (on) {
            m_thieves.fetch_add(1, std::memory_order_seq_cst);
            m_fenced_by_owner.store(true, std::memory_order_release);
        } else {
            m_fenced_by_owner.store(false, std::memory_order_seq_cst);
            m_thieves.fetch_sub(1, std::memory_order_seq_cst);
        }
    }

    /// Owner only. Returns false (and stores nothing) when the deque is full.
    bool push(T* item) noexcept {
        GORO_ASSERT(m_owner.is_current());
        const std::int64_t b = m_bottom.load(std::memory_order_relaxed);
        // acquire: pairs with a thief's CAS on top, so its read of the slot we
        // are about to overwrite happened before our write.
        const std::int64_t t = m_top.load(std::memory_order_acquire);
        if (b - t >= static_cast<std::int64_t>(Capacity)) return false;
        // The item's index, for take()'s lookup, before the slot publishes
        // the item (the owner's own order; thieves never read it).
        store_index(item, b);
        // release: a dump's walk (for_each_racy) may load the slot without
        // the bottom store below (a take moves it); its acquire load then
        // still sees *item's fields. A plain store on x86.
        m_slots[b & k_mask].store(item, std::memory_order_release);
        // release: publishes the slot and everything the owner wrote into
        // *item before the push; pairs with the acquire load of bottom in steal().
        m_bottom.store(b + 1, std::memory_order_release);
        return true;
    }

    /// Owner only. Takes the newest item, or returns nullptr when empty.
    T* pop() noexcept {
        GORO_ASSERT(m_owner.is_current());
        const std::int64_t b = m_bottom.load(std::memory_order_relaxed) - 1;
        if (m_no_thieves) {
            // relaxed loads: only this thread ever writes top and bottom.
            // release store: see for_each_racy (a dump's read of the deque).
            if (m_top.load(std::memory_order_relaxed) > b) return nullptr;
            m_bottom.store(b, std::memory_order_release);
            T* item = m_slots[b & k_mask].load(std::memory_order_relaxed);
            GORO_ASSERT(holds_index(item, b));  // owner only: the item is the owner's now
            return item;
        }
        // seq_cst exchange, then a seq_cst load of top: the store-load race
        // with a thief that reads top and then bottom (see the header). A
        // locked exchange rather than store + seq_cst fence: on x86 the fence
        // is an MFENCE, several times dearer than XCHG on AMD Zen, and this is
        // the hottest instruction of fork-join code.
        reserve(b);
        std::int64_t t = m_top.load(std::memory_order_seq_cst);
        if (t > b) {  // was empty
            m_bottom.store(b + 1, std::memory_order_relaxed);
            return nullptr;
        }
        T* item = m_slots[b & k_mask].load(std::memory_order_relaxed);
        if (t == b) {
            // Last item: race thieves for it through top, as they do.
            if (!m_top.compare_exchange_strong(t, t + 1, std::memory_order_seq_cst,
                                               std::memory_order_relaxed))
                item = nullptr;  // a thief took it
            m_bottom.store(b + 1, std::memory_order_relaxed);
        }
        // Owner only: an item it won is no thief's (a thief that took it
        // would have moved top past b, and a thief writes the index only
        // after that).
        GORO_ASSERT(!item || holds_index(item, b));
        return item;
    }

    /// Owner only. Takes `item` out of the deque if it is one of the
    /// `max_depth` newest items (the newest item moves into its slot);
    /// false if it is not there or a thief took it meanwhile.
    ///
    /// Its join_handle's fast path (issue 14, item 3): code joins children in
    /// the order it spawned them, so the awaited child sits under its younger
    /// siblings. Its slot is found by its index (deque_indexed; the header's
    /// "take()'s lookup": one slot read at any depth), or, for an item type
    /// without one, by a search from the newest item. The newest `depth`
    /// items are reserved at once, as pop() reserves one: bottom moves down
    /// past them with the same seq_cst exchange, then top is read seq_cst.
    /// If top is still below them, no thief can take any of them: a thief
    /// that read the old bottom read top earlier in the total order (so at
    /// most the value we read, below the reserved range) and steals that
    /// slot only; a later thief sees the new bottom. The owner then moves the
    /// newest item into `item`'s slot (and its index with it) and publishes
    /// the new bottom with a release store (thieves acquire it, and with it
    /// the moved slot). Moving one item, not shifting every newer one down,
    /// costs one slot write whatever the depth, and leaves the children to
    /// be joined last at the top, where thieves take them. If top came into
    /// the range, nothing is taken unless `item` is the oldest item, which
    /// is raced for by CAS on top as pop() races for its last one. One
    /// exchange whatever the depth.
    ///
    /// NewestFirst: the caller expects `item` to be the newest item (a
    /// join_all takes its children newest first, detail/join_batch.hpp), so
    /// the newest slot is read first, before the lookup by index; the take
    /// of the newest item then moves nothing (no hole to fill).
    template <bool NewestFirst = false>
    bool take(T* item, std::size_t max_depth) noexcept {
        GORO_ASSERT(m_owner.is_current());
        const std::int64_t b = m_bottom.load(std::memory_order_relaxed);
        // relaxed: a bound on the lookup; the seq_cst load below decides.
        // (Never above the true top: only thieves and this thread move it,
        // and it only grows; so b - t_hint <= Capacity.)
        const std::int64_t t_hint = m_top.load(std::memory_order_relaxed);
        if constexpr (NewestFirst) {
            // A candidate, as find()'s (take_by_index). (max_depth: a
            // constant where the take is inlined, so its test costs nothing.)
            if (max_depth != 0 && t_hint < b && m_slots[(b - 1) & k_mask].load(std::memory_order_relaxed) == item)
                [[likely]]
                return take_at<false>(b, t_hint, b - 1);
            // Out of line: the lookup and the move of the newest item into
            // a hole would cost the path above register saves.
            return take_by_index_outlined(item, max_depth, b, t_hint);
        } else {
            return take_by_index(item, max_depth, b, t_hint);
        }
    }

private:
    // take()'s lookup of `item` among the `max_depth` newest items (b and
    // t_hint: bottom and top as take() read them), then its removal.
    [[gnu::always_inline]] bool take_by_index(T* item, std::size_t max_depth, std::int64_t b,
                                              std::int64_t t_hint) noexcept {
        const std::int64_t limit = std::min<std::int64_t>(b - t_hint, static_cast<std::int64_t>(max_depth));
        if (limit < 1) return false;
        // A candidate only, as any slot read before the reservation: the
        // slot may be a stale one below the true top (its item stolen).
        const std::int64_t depth = find(item, b, limit);
        if (depth == 0) return false;
        return take_at<true>(b, t_hint, b - depth);
    }
    [[gnu::noinline]] bool take_by_index_outlined(T* item, std::size_t max_depth, std::int64_t b,
                                                  std::int64_t t_hint) noexcept {
        return take_by_index(item, max_depth, b, t_hint);
    }

    // take()'s reservation and removal of the candidate found in slot `at`
    // (b and t_hint: bottom and top as take() read them). With no thieves,
    // t_hint is exact (only this thread moves top); ReadTopAgain: read it
    // again rather than keep it across the lookup by index, where it cost
    // run_in_place a register save.
    template <bool ReadTopAgain>
    [[gnu::always_inline]] bool take_at(std::int64_t b, std::int64_t t_hint, std::int64_t at) noexcept {
        std::int64_t t;
        if (m_no_thieves) {
            t = ReadTopAgain ? m_top.load(std::memory_order_relaxed) : t_hint;
        } else {
            reserve(at);
            t = m_top.load(std::memory_order_seq_cst);
        }
        if (t >= at && !m_no_thieves) {
            // `item` is the oldest item (t == at): race thieves for it
            // through top, as pop() does for its last item; the newer items
            // stay where they are, between the new top and the old bottom.
            // Otherwise (t > at) a thief took it already. Either way bottom
            // is put back (relaxed, as in pop: a thief that read the
            // reserved value found nothing at or above it to take).
            const bool won = t == at && m_top.compare_exchange_strong(t, t + 1, std::memory_order_seq_cst,
                                                                      std::memory_order_relaxed);
            m_bottom.store(b, std::memory_order_relaxed);
            return won;
        }
        if (at == t) {
            // The oldest item with no thieves possible (t is then exact):
            // top moves past it, as a steal would, and the rest stay put
            // (the same deque as the race above leaves). release: see
            // for_each_racy.
            m_top.store(t + 1, std::memory_order_release);
            return true;
        }
        if (at != b - 1) {
            // Items at..b-1 are reserved: the moved item is the owner's
            // until the store of bottom below publishes it again, so its
            // index is the owner's to rewrite (before that store: a thief
            // that steals it later writes the index only after its CAS).
            T* moved = m_slots[(b - 1) & k_mask].load(std::memory_order_relaxed);
            GORO_ASSERT(holds_index(moved, b - 1));
            store_index(moved, at);
            // release: as push()'s slot store (for_each_racy).
            m_slots[at & k_mask].store(moved, std::memory_order_release);
        }
        // release: publishes the moved slot, as push() publishes its slot.
        m_bottom.store(b - 1, std::memory_order_release);
        return true;
    }

public:
    /// Any thread. Takes the oldest item into `out`.
    steal_result steal(T*& out) noexcept {
        // seq_cst loads of top then bottom (plain loads on x86): with pop()'s
        // seq_cst exchange and load they sit in one total order, which rules
        // out both sides taking the last item. (seq_cst also gives the
        // acquire pairing with other thieves' CAS and with push()'s release.)
        std::int64_t t = m_top.load(std::memory_order_seq_cst);
        const std::int64_t b = m_bottom.load(std::memory_order_seq_cst);
        if (t >= b) return steal_result::empty;
        T* item = m_slots[t & k_mask].load(std::memory_order_relaxed);
        if (!m_top.compare_exchange_strong(t, t + 1, std::memory_order_seq_cst,
                                           std::memory_order_relaxed))
            return steal_result::lost_race;
        out = item;
        return steal_result::success;
    }

    /// Any thread (goroutine dumps): calls fn(item) for each item between
    /// top and bottom as read now. acquire loads of top and bottom: pair
    /// with push()'s release (the slots and the items' fields) and with the
    /// removals' release stores and CASes, so that a reader that sees an
    /// item gone also sees what its remover did before (a transit's start:
    /// scheduler_state.hpp, processor::transit_epoch). Items may be taken
    /// meanwhile (fn gets each pointer as it was in its slot; keeping the
    /// item alive is the caller's business), and an owner's pop or take
    /// in progress hides items for a moment (bottom lowered first): the
    /// transit covers that too.
    template <typename F>
    void for_each_racy(F&& fn) const {
        const std::int64_t t = m_top.load(std::memory_order_acquire);
        const std::int64_t b = m_bottom.load(std::memory_order_acquire);
        // acquire: pairs with the release store that put the item in its
        // slot (push, or take's move), which the bottom read need not have
        // covered: a take may have moved a newer item into a slot below the
        // bottom read here.
        for (std::int64_t i = t; i < b; ++i)
            if (T* item = m_slots[i & k_mask].load(std::memory_order_acquire)) fn(item);
    }

    /// Any thread; a racy snapshot, exact only when no one else is operating.
    std::size_t size_hint() const noexcept {
        const std::int64_t b = m_bottom.load(std::memory_order_relaxed);
        const std::int64_t t = m_top.load(std::memory_order_relaxed);
        return b > t ? static_cast<std::size_t>(b - t) : 0;
    }
    bool empty_hint() const noexcept { return size_hint() == 0; }
    /// Owner only; a hint: the newest item, or nullptr when the deque looks
    /// empty. A thief may be taking it as this returns, so the pointer is
    /// for comparing, never for using. Only the owner writes slots, and
    /// the slot below bottom holds the newest item the owner pushed or
    /// moved there (relaxed: the owner's own stores).
    T* newest_hint() const noexcept {
        GORO_ASSERT(m_owner.is_current());
        const std::int64_t b = m_bottom.load(std::memory_order_relaxed);
        const std::int64_t t = m_top.load(std::memory_order_relaxed);
        return b > t ? m_slots[(b - 1) & k_mask].load(std::memory_order_relaxed) : nullptr;
    }
    /// Any thread; a racy snapshot of the index of the oldest item (it only grows).
    std::int64_t top_hint() const noexcept { return m_top.load(std::memory_order_relaxed); }

private:
    // Owner only (push, take's move): records index i in an indexed item,
    // for take()'s lookup; nothing for other item types. release: every
    // store of the index is, so that a checked build's cross-check in
    // find() that reads an index stored by the item's next holder (after
    // the steal that took it from here) also sees that steal's CAS on top.
    // A plain store on x86. (Correctness never depends on the value: the
    // lookup verifies the slot it names, and the reservation decides.)
    static void store_index(T* item, std::int64_t i) noexcept {
        if constexpr (deque_indexed<T>) {
            using U = typename deque_detail::index_field<T>::value_type;
            item->deque_index.store(static_cast<U>(i), std::memory_order_release);
        }
    }

    // Owner only, on an item the owner holds (won by pop, or reserved by
    // take): whether its index names i (always true for other item types).
    // relaxed: the owner's own store is the last one (see store_index).
    static bool holds_index(T* item, std::int64_t i) noexcept {
        if constexpr (deque_indexed<T>) {
            constexpr std::uint64_t k_window_mask = (std::uint64_t{1} << deque_detail::index_field<T>::bits) - 1;
            const std::uint64_t h = item->deque_index.load(std::memory_order_relaxed);
            return ((static_cast<std::uint64_t>(i) ^ h) & k_window_mask) == 0;
        } else {
            (void)item;
            (void)i;
            return true;
        }
    }

    // Owner only (take): the depth under b (1: the newest item) of the slot
    // among the `limit` newest that holds `item`, or 0. A slot read here is
    // only a candidate (see take).
    std::int64_t find(T* item, std::int64_t b, std::int64_t limit) const noexcept {
        if constexpr (deque_indexed<T>) {
            constexpr std::int64_t k_window = std::int64_t{1} << deque_detail::index_field<T>::bits;
            // relaxed: a hint. If `item` is in the deque, the value is the
            // owner's own last store (no one else writes it meanwhile: see
            // the header's invariants), which this thread reads or reads
            // past. If it left the deque, its next holder may be storing it
            // now (an atomic for that), and any value only makes the slot
            // check below fail or name a stale slot, which the reservation
            // sorts out.
            const std::uint64_t h = item->deque_index.load(std::memory_order_relaxed);
            // The newest index congruent to h, then every 2^bits below it
            // (once, for a lookup within the window: always for goroutines,
            // k_join_search_depth < 256).
            for (std::int64_t depth = 1 + static_cast<std::int64_t>((static_cast<std::uint64_t>(b - 1) - h) &
                                                                    static_cast<std::uint64_t>(k_window - 1));
                 depth <= limit; depth += k_window)
                if (m_slots[(b - depth) & k_mask].load(std::memory_order_relaxed) == item) return depth;
#if defined(GORO_CHECK_INVARIANTS)
            check_missed(item, b, limit);
#endif
            return 0;
        } else {
            for (std::int64_t depth = 1; depth <= limit; ++depth)
                if (m_slots[(b - depth) & k_mask].load(std::memory_order_relaxed) == item) return depth;
            return 0;
        }
    }

#if defined(GORO_CHECK_INVARIANTS)
    // Checked builds, owner only: the lookup by index missed `item`; a
    // search must then find it, if at all, only in a stale slot below the
    // true top (it was stolen): an item in the deque holds its index (the
    // header's invariants), and the lookup would have found it. The
    // index's acquire load pairs with store_index's release by whoever
    // holds the item since: if the missed value was theirs, they got the
    // item by a steal whose CAS on top happened before it, and the seq_cst
    // load of top below sees it. If this load reads the owner's own store,
    // so did the lookup's earlier load (nothing came between), and the
    // lookup found the item: this is not reached.
    void check_missed(T* item, std::int64_t b, std::int64_t limit) const noexcept {
        if constexpr (deque_indexed<T>) {
            for (std::int64_t depth = 1; depth <= limit; ++depth) {
                if (m_slots[(b - depth) & k_mask].load(std::memory_order_relaxed) != item) continue;
                (void)item->deque_index.load(std::memory_order_acquire);
                GORO_ASSERT(m_top.load(std::memory_order_seq_cst) > b - depth);
                return;
            }
        }
    }
#endif

    // Owner only: bottom = b before a read of top, ordered before that read
    // (the store-load race of the header): by the exchange, or, in the
    // asymmetric mode with no thief in a session, by the thieves' heavy
    // fence (the header's second diagram).
    [[gnu::always_inline]] void reserve(std::int64_t b) noexcept {
        // release: the owner's earlier stores (a transit's start, for a
        // dump: for_each_racy) happen before a reader that sees this bottom.
        // A plain store on x86, as relaxed.
        m_bottom.store(b, std::memory_order_release);
        // The store before the load of the count, in the program as
        // written (the membarrier orders them on the processor).
        std::atomic_signal_fence(std::memory_order_seq_cst);
        // acquire: pairs with a session's release decrement (its steals
        // happened before).
        if (m_thieves.load(std::memory_order_acquire) != 0) [[unlikely]]
            m_bottom.exchange(b, std::memory_order_seq_cst);
    }

    // top and bottom on separate cache lines: thieves hammer top, the owner bottom.
    alignas(64) std::atomic<std::int64_t> m_top{0};
    // Thieves in a steal_session, plus 1 for good outside the asymmetric
    // mode. On top's line: the owner reads top right after it.
    std::atomic<std::uint32_t> m_thieves{1};
    // Set while the owner fences in the asymmetric mode (set_owner_fences).
    std::atomic<bool> m_fenced_by_owner{false};
    bool m_asymmetric = false;  // see set_asymmetric; written before any thread uses the deque
    bool m_owner_fences = false;  // owner only: set_owner_fences' state
    alignas(64) std::atomic<std::int64_t> m_bottom{0};
    owner_thread m_owner;  // checked builds only (invariant.hpp); beside bottom, the owner's line
    bool m_no_thieves = false;  // see set_no_thieves; owner only
    alignas(64) std::atomic<T*> m_slots[Capacity];
};

}  // namespace goro::detail
