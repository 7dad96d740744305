#include "frame_allocator.hpp"

#include <array>
#include <cstdlib>
#include <new>

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
constexpr std::size_t k_max_cached_bytes = 16u << 20;  // per thread, all classes together

struct free_block {
    free_block* next;
};

// One per thread. Only its own thread reads or writes it (see the header).
struct frame_cache {
    std::array<free_block*, k_class_count> heads{};
    std::size_t cached_bytes = 0;

    ~frame_cache() {
        for (free_block* head : heads) {
            while (head) {
                free_block* next = head->next;
                ::operator delete(head);
                head = next;
            }
        }
    }
};

constexpr std::size_t class_of(std::size_t size) noexcept {
    return (size + k_class_granularity - 1) / k_class_granularity - 1;
}

// Not inlined: a coroutine may resume on another thread, and the address of a
// thread_local must never be reused across a suspension point (STYLE.md).
[[gnu::noinline]] frame_cache& this_thread_cache() noexcept {
    thread_local frame_cache cache;
    return cache;
}

}  // namespace

void* allocate_frame(std::size_t size) {
#ifndef GORO_BYPASS_FRAME_POOL
    if (size <= k_max_pooled_size) {
        const std::size_t cls = class_of(size);
        frame_cache& cache = this_thread_cache();
        if (free_block* block = cache.heads[cls]) {
            cache.heads[cls] = block->next;
            cache.cached_bytes -= (cls + 1) * k_class_granularity;
            return block;
        }
        return ::operator new((cls + 1) * k_class_granularity);
    }
#endif
    return ::operator new(size);
}

void free_frame(void* frame, std::size_t size) noexcept {
#ifndef GORO_BYPASS_FRAME_POOL
    if (size <= k_max_pooled_size) {
        const std::size_t cls = class_of(size);
        const std::size_t bytes = (cls + 1) * k_class_granularity;
        frame_cache& cache = this_thread_cache();
        if (cache.cached_bytes + bytes <= k_max_cached_bytes) {
            auto* block = static_cast<free_block*>(frame);
            block->next = cache.heads[cls];
            cache.heads[cls] = block;
            cache.cached_bytes += bytes;
            return;
        }
    }
#endif
    (void)size;
    ::operator delete(frame);
}

}  // namespace goro::detail
