// Coroutine frame allocator: per-thread free lists over shared slabs.
//
// Layout: frames of up to k_max_pooled_size bytes are rounded up to a 64-byte
// size class. Each thread keeps a LIFO free list per class (touched only by
// that thread: no atomics on the fast path). When a list is empty, the thread
// takes a whole batch of free blocks from the global transfer stack of that
// class, or carves a new batch out of a fresh slab. When a list grows beyond
// k_batch_blocks * 2 (a thread that frees more frames than it allocates, as a
// consumer does), a batch moves to the transfer stack for other threads.
//
// Slabs (k_slab_bytes each) are never returned to the system: a size class's
// memory is reused for the life of the process, which is what a runtime that
// creates and destroys millions of frames wants (no malloc, no page faults in
// steady state). Memory held is bounded by the peak number of live frames.
//
// A frame freed on another thread than its allocator's simply joins the
// freeing thread's list: lists are per thread, so no list is ever corrupted.
//
// Sanitizer builds bypass all of this so that AddressSanitizer sees every
// frame's real lifetime (a recycled frame would hide a use-after-free).

#include "frame_allocator.hpp"

#include <sys/mman.h>

#include <array>
#include <cstdlib>
#include <mutex>
#include <new>
#include <vector>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define GORO_BYPASS_FRAME_POOL 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define GORO_BYPASS_FRAME_POOL 1
#endif
#endif

namespace goro::detail {
namespace {

constexpr std::size_t k_class_granularity = 64;
constexpr std::size_t k_max_pooled_size = 2048;
constexpr std::size_t k_class_count = k_max_pooled_size / k_class_granularity;
constexpr std::size_t k_batch_blocks = 128;
constexpr std::size_t k_slab_bytes = 1u << 20;

struct free_block {
    free_block* next;
};

constexpr std::size_t class_of(std::size_t size) noexcept {
    return (size + k_class_granularity - 1) / k_class_granularity - 1;
}
constexpr std::size_t block_bytes(std::size_t cls) noexcept { return (cls + 1) * k_class_granularity; }

// Global state per size class: batches of free blocks handed between threads,
// and the current slab being carved. Guarded by `lock`; only touched when a
// thread's own list runs empty or overflows (once per k_batch_blocks frames).
struct central_class {
    std::mutex lock;
    std::vector<free_block*> batches;  // each a list of k_batch_blocks blocks
    char* slab_cursor = nullptr;
    char* slab_end = nullptr;
};

std::array<central_class, k_class_count>& central() {
    // Leaked on purpose: frames may be freed by threads that outlive static
    // destruction order (and slabs are process-lifetime anyway).
    static auto* classes = new std::array<central_class, k_class_count>();
    return *classes;
}

// A fresh slab, its pages populated up front: one system call instead of a
// page fault per 4 KiB (page faults are very expensive on some virtual
// machines, and a spawn storm touches fresh frames at a high rate).
void* new_slab() {
    void* p = ::mmap(nullptr, k_slab_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
                     -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    return p;
}

// Takes a batch for class `cls`: a recycled one, or fresh blocks from a slab.
[[maybe_unused]] free_block* refill(std::size_t cls) {  // unused when sanitizers bypass the pool
    central_class& c = central()[cls];
    std::lock_guard guard(c.lock);
    if (!c.batches.empty()) {
        free_block* batch = c.batches.back();
        c.batches.pop_back();
        return batch;
    }
    const std::size_t bytes = block_bytes(cls);
    free_block* head = nullptr;
    for (std::size_t i = 0; i < k_batch_blocks; ++i) {
        if (c.slab_cursor == nullptr || c.slab_cursor + bytes > c.slab_end) {
            c.slab_cursor = static_cast<char*>(new_slab());
            c.slab_end = c.slab_cursor + k_slab_bytes;
        }
        auto* block = reinterpret_cast<free_block*>(c.slab_cursor);
        c.slab_cursor += bytes;
        block->next = head;
        head = block;
    }
    return head;
}

void give_back(std::size_t cls, free_block* batch) {
    central_class& c = central()[cls];
    std::lock_guard guard(c.lock);
    c.batches.push_back(batch);
}

// One per thread. Only its own thread reads or writes it.
struct frame_cache {
    std::array<free_block*, k_class_count> heads{};
    std::array<std::size_t, k_class_count> lengths{};

    ~frame_cache() {
        // Hand everything back so that other threads reuse it.
        for (std::size_t cls = 0; cls < k_class_count; ++cls) {
            while (heads[cls]) {
                free_block* batch = heads[cls];
                free_block* tail = batch;
                std::size_t n = 1;
                while (n < k_batch_blocks && tail->next) {
                    tail = tail->next;
                    ++n;
                }
                heads[cls] = tail->next;
                tail->next = nullptr;
                give_back(cls, batch);
            }
        }
    }
};

// Inlined only into allocate_frame and free_frame, which are never inlined
// into their callers (coroutine frames' operator new/delete): a coroutine may
// resume on another thread, and the address of a thread_local must never be
// reused across a suspension point (STYLE.md).
[[maybe_unused]] frame_cache& this_thread_cache() noexcept {  // (idem)
    thread_local frame_cache cache;
    return cache;
}

}  // namespace

[[gnu::noinline]] void* allocate_frame(std::size_t size) {
#ifndef GORO_BYPASS_FRAME_POOL
    if (size <= k_max_pooled_size) {
        const std::size_t cls = class_of(size);
        frame_cache& cache = this_thread_cache();
        free_block* block = cache.heads[cls];
        if (!block) {
            block = refill(cls);
            cache.lengths[cls] = k_batch_blocks;
        }
        cache.heads[cls] = block->next;
        --cache.lengths[cls];
        return block;
    }
#endif
    return ::operator new(size);
}

[[gnu::noinline]] void free_frame(void* frame, std::size_t size) noexcept {
#ifndef GORO_BYPASS_FRAME_POOL
    if (size <= k_max_pooled_size) {
        const std::size_t cls = class_of(size);
        frame_cache& cache = this_thread_cache();
        auto* block = static_cast<free_block*>(frame);
        block->next = cache.heads[cls];
        cache.heads[cls] = block;
        if (++cache.lengths[cls] >= 2 * k_batch_blocks) {
            // Overflow: detach the newest k_batch_blocks blocks as one batch.
            free_block* batch = cache.heads[cls];
            free_block* tail = batch;
            for (std::size_t i = 1; i < k_batch_blocks; ++i) tail = tail->next;
            cache.heads[cls] = tail->next;
            tail->next = nullptr;
            cache.lengths[cls] -= k_batch_blocks;
            try {
                give_back(cls, batch);
            } catch (...) {
                // vector growth failed: keep the blocks locally instead.
                tail->next = cache.heads[cls];
                cache.heads[cls] = batch;
                cache.lengths[cls] += k_batch_blocks;
            }
        }
        return;
    }
#endif
    (void)size;
    ::operator delete(frame);
}

}  // namespace goro::detail
