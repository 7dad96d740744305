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
#include <cstdint>

namespace goro::detail {

/// Allocates a coroutine frame of `size` bytes (never returns null; throws std::bad_alloc).
void* allocate_frame(std::size_t size);

/// Frees a frame obtained from allocate_frame with the same `size`; any thread may call it.
void free_frame(void* frame, std::size_t size) noexcept;

/// A goro::task frame: allocate_frame's block with a header of
/// k_task_frame_header bytes in front, which holds the frame's size and a
/// check word, so that a finished frame can be freed without the
/// compiler's destroy (task.hpp's release_finished). The promise's
/// operator new allocates with allocate_task_frame when every parameter of
/// its coroutine is trivially destructible (then a finished frame holds
/// nothing to destroy but the promise), with
/// allocate_task_frame_nontrivial otherwise (its check word fails);
/// free_task_frame is its operator delete.
inline constexpr std::size_t k_task_frame_header = 16;  // keeps the frame 16-byte aligned
void* allocate_task_frame(std::size_t size);
void* allocate_task_frame_nontrivial(std::size_t size);
void free_task_frame(void* frame, std::size_t size) noexcept;

/// The header's check word for a frame at `frame`: its address scrambled,
/// so that no pointer that happens to lie before a frame (a parent's
/// handle to it, say) passes for one.
inline constexpr std::uintptr_t k_task_frame_check = 0x9e3779b97f4a7c15u;

/// True when the finished coroutine frame at `frame` may be freed directly
/// (free_finished_task_frame, once its promise is destroyed): it starts
/// where allocate_task_frame put it. Not one from
/// allocate_task_frame_nontrivial (a parameter to destroy), nor one a
/// compiler placed elsewhere: in its caller's frame (clang's allocation
/// elision), or past padding that aligns an over-aligned frame (clang,
/// when the frame needs more than 16 bytes' alignment). The 16 bytes
/// before such a frame are its caller's or the padding, readable, and fail
/// the check.
///
/// g++ up to 14 places every task frame where its operator new put it (it
/// elides no coroutine allocation and over-aligns no frame), so with those
/// the only frames are goro's two kinds, and the check word's being non-zero
/// tells them apart (allocate_task_frame_nontrivial writes zero; two
/// instructions a free fewer than the full test, the free of a fork-join
/// fib call's child among them). The word written is the same whatever
/// compiled the library, so a program and its goro may come from different
/// compilers.
#if !defined(__clang__) && defined(__GNUC__) && __GNUC__ <= 14
inline constexpr bool k_frames_only_where_allocated = true;
#else
inline constexpr bool k_frames_only_where_allocated = false;
#endif
inline bool frees_directly(const void* frame) noexcept {
    const std::uintptr_t check = static_cast<const std::uintptr_t*>(frame)[-1];
    if constexpr (k_frames_only_where_allocated) return check != 0;
    return check == (reinterpret_cast<std::uintptr_t>(frame) ^ k_task_frame_check);
}

/// Frees a frame from allocate_task_frame (frees_directly), its size read
/// from its header.
void free_finished_task_frame(void* frame) noexcept;

/// False when frames bypass the pool (see above); fixed for the process's life.
bool frame_pool_enabled() noexcept;

/// The pool behind allocate_frame/free_frame, used even in sanitizer builds
/// (for its tests); in a process started with GORO_DEBUG=framepool=0 (a
/// build without sanitizers), the system allocator, as for every frame.
/// Pair them with each other only.
void* pool_allocate_frame(std::size_t size);
void pool_free_frame(void* frame, std::size_t size) noexcept;

}  // namespace goro::detail
