// Coroutine frame allocation: per-thread size-class free lists.
//
// Every goro::task frame comes from here. Each OS thread keeps one LIFO free
// list per 64-byte size class (up to k_max_pooled_size); larger frames go to
// the system allocator. A frame freed on another thread than the one that
// allocated it goes onto the *freeing* thread's list: each list is touched
// only by its own thread, so no frame can corrupt another thread's list, and
// no atomic operation is needed. To keep producer/consumer patterns (frames
// allocated on A, freed on B) from hoarding memory on B, a list holds at most
// k_max_cached_bytes; beyond that, frames go back to the system allocator.
//
// Sanitizer builds bypass the lists so that AddressSanitizer sees every frame's
// real lifetime (a use-after-free of a recycled frame would otherwise hide).
#pragma once

#include <cstddef>

namespace goro::detail {

/// Allocates a coroutine frame of `size` bytes (never returns null; throws std::bad_alloc).
void* allocate_frame(std::size_t size);

/// Frees a frame obtained from allocate_frame with the same `size`; any thread may call it.
void free_frame(void* frame, std::size_t size) noexcept;

}  // namespace goro::detail
