// The goroutine registry (detail/scheduler_state.hpp's registry): every
// live goroutine has a slot in its processor's registry (or the external
// one), for dumps, metrics and shutdown's destroy loop. insert() is inline
// (once per spawn); its refill, growth and erase() live here.
#include <algorithm>
#include <memory>

#include "detail/invariant.hpp"
#include "detail/scheduler_state.hpp"

namespace goro::detail {

void registry::grow(std::size_t slots) {
    chunk c{std::make_unique<registry_slot[]>(slots), slots};
    // Room for every slot on the free list, made here, where running out
    // of memory is an ordinary std::bad_alloc from insert() (the caller's
    // goro::go or spawn throws it, and nothing has changed yet): erase() is
    // noexcept and pushes freed slots back, and it must never reallocate.
    auto room = std::make_unique<registry_slot*[]>(total_slots + slots);
    std::copy(free_slots.get(), free_slots.get() + free_count, room.get());
    // Readers index chunks[] below chunk_count only; reserve() keeps the vector
    // from moving while it has room, and past that readers only run when the
    // owner is parked (dumps) or stopped (shutdown).
    chunks.push_back(std::move(c));
    free_slots = std::move(room);
    chunk& added = chunks.back();
    for (std::size_t i = slots; i-- > 0;) free_slots[free_count++] = &added.slots[i];
    total_slots += slots;
    // release: publishes the new chunk to readers (for_each acquires).
    chunk_count.store(chunks.size(), std::memory_order_release);
}

void registry::scan_free_slots() {
    free_count = 0;
    for (auto& c : chunks)
        for (std::size_t i = c.size; i-- > 0;)
            // relaxed: only the owner (us) ever stores a non-null pointer, so a
            // null read here can only become non-null through our own insert.
            if (c.slots[i].g.load(std::memory_order_relaxed) == nullptr) free_slots[free_count++] = &c.slots[i];
}

void registry::refill() {
    if (total_slots > 0) scan_free_slots();
    if (free_count < total_slots / 4 || free_count == 0) grow(std::max<std::size_t>(1024, total_slots / 4));
}

}  // namespace goro::detail
