// Coroutine frame allocation: per-thread size-class free lists over shared
// slabs (the design and its invariants: frame_allocator.cpp).
//
// Every goro::task frame comes from here. Each OS thread keeps one LIFO free
// list per 64-byte size class (frames up to 2 KiB; larger ones go to the
// system allocator), touched only by that thread. A frame freed on another
// thread than the one that allocated it joins the *freeing* thread's list;
// a list that grows past two batches hands a batch to a central per-class
// stack, from which threads with empty lists refill, so a producer/consumer
// pair recycles through it instead of one side hoarding. Slabs are never
// returned to the system: memory held is bounded by the peak of live frames.
//
// Sanitizer builds bypass the lists in allocate_frame/free_frame so that
// AddressSanitizer sees every frame's real lifetime (a use-after-free of a
// recycled frame would otherwise hide); so do a goro built with
// -Dframe_pool=false, and any process started with GORO_DEBUG=framepool=0
// (for a program built with sanitizers against a goro built without). The pool itself stays reachable as
// pool_allocate_frame/pool_free_frame, so that its stress test runs under
// ThreadSanitizer too.
#pragma once

#include <cstddef>

namespace goro::detail {

/// Allocates a coroutine frame of `size` bytes (never returns null; throws std::bad_alloc).
void* allocate_frame(std::size_t size);

/// Frees a frame obtained from allocate_frame with the same `size`; any thread may call it.
void free_frame(void* frame, std::size_t size) noexcept;

/// False when frames bypass the pool (see above); fixed for the process's life.
bool frame_pool_enabled() noexcept;

/// The pool behind allocate_frame/free_frame, used even in sanitizer builds
/// (for its tests). Pair them with each other only.
void* pool_allocate_frame(std::size_t size);
void pool_free_frame(void* frame, std::size_t size) noexcept;

}  // namespace goro::detail
