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

#include "sanitizers.hpp"

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

/// A task frame's header (k_task_frame_header bytes before the frame): the
/// size class of its block (past the classes for a block from the system
/// allocator), and the check word that frees_directly tests. The class, not
/// the size: a finished frame's free goes straight to its list, with no
/// arithmetic between the header's load and the list head's.
struct task_frame_header {
    std::size_t cls;
    std::uintptr_t check;
};
static_assert(sizeof(task_frame_header) == k_task_frame_header);

// ---- The pool's per-thread lists, and the allocation's inlined fast path.
//
// The layout of each thread's free lists (frame_allocator.cpp keeps them,
// and states their invariants), exposed so that a task's ramp can pop its
// block without a call: the ramp knows its frame's size, so the class and
// its bounds test fold away, and with no call left the ramp saves no
// registers (a fork-join fib call: 10 instructions fewer with g++, 8 with
// clang; issue 14).
inline constexpr std::size_t k_frame_class_granularity = 64;
inline constexpr std::size_t k_max_pooled_frame = 2048;
inline constexpr std::size_t k_frame_class_count = k_max_pooled_frame / k_frame_class_granularity;

struct free_frame_block {
    free_frame_block* next;
};

/// One per thread: its free list per class, and the room left on each
/// before a free hands a batch on (frame_allocator.cpp states their invariants).
struct thread_frame_lists {
    free_frame_block* heads[k_frame_class_count];
    std::int32_t room[k_frame_class_count];
    unsigned char hook;  // frame_allocator.cpp's hook_state
};

/// The block size class of a request of `size` bytes; size - 1 wraps for
/// an empty request (the exported test pair takes any size): past the
/// classes.
constexpr std::size_t frame_class_of(std::size_t size) noexcept { return (size - 1) / k_frame_class_granularity; }

// Where the fast path is inlined: x86-64 Linux (not x32), without sanitizers (whose
// builds keep every frame out of the lists; a program built with them
// against a goro built without calls the library, which decides). The
// thread's lists are reached through an asm that the compiler must run
// afresh each time, never through the thread_local itself: a coroutine may
// resume on another thread, and compilers have been caught reusing a
// thread_local's address across a suspension point (this code is inlined
// into coroutine bodies). The symbol is frame_allocator.cpp's t_frames.
//
// Correct whatever the library's configuration: a goro built with
// -Dframe_pool=false or with sanitizers, or a process started with
// GORO_DEBUG=framepool=0, never puts a block on a thread's lists (but for
// the pool's own test pair, pool_allocate_frame/pool_free_frame), so the
// fast path finds them empty and calls the library.
#if defined(__x86_64__) && defined(__LP64__) && defined(__linux__) && !GORO_ASAN && !GORO_TSAN
#define GORO_INLINE_FRAME_ALLOCATION 1
#endif

#ifdef GORO_INLINE_FRAME_ALLOCATION
/// This thread's lists: the thread pointer (%fs:0 holds its own address)
/// plus the variable's offset from it (initial-exec, which the linker turns
/// into a constant in an executable).
[[gnu::always_inline]] inline thread_frame_lists* this_thread_frame_lists() noexcept {
    thread_frame_lists* lists;
    asm volatile(
        "movq %%fs:0, %0\n\t"
        "addq goro_thread_frame_lists@gottpoff(%%rip), %0"
        : "=r"(lists));
    return lists;
}
#endif

/// The task frame in `block`, of class `cls`, its header written
/// (`direct`: it may be freed directly, see frees_directly; otherwise the
/// check word is 0, which no frame's passes, though the block may hold a
/// valid one from an earlier frame at the same address).
template <bool direct>
[[gnu::always_inline]] inline void* frame_in_block(void* block, std::size_t cls) noexcept {
    auto* header = static_cast<task_frame_header*>(block);
    header->cls = cls;
    header->check = direct ? reinterpret_cast<std::uintptr_t>(header + 1) ^ k_task_frame_check : 0;
    return header + 1;
}

/// A task frame from `lists`' list of class `cls` (below
/// k_frame_class_count), its header written (`direct`: see
/// frees_directly); null when the list is empty. The fast path of every
/// task frame's allocation, inlined or not.
template <bool direct>
[[gnu::always_inline]] inline void* take_task_frame(thread_frame_lists& lists, std::size_t cls) noexcept {
    free_frame_block* block = lists.heads[cls];
    if (!block) [[unlikely]]
        return nullptr;
    lists.heads[cls] = block->next;
    ++lists.room[cls];
    return frame_in_block<direct>(block, cls);
}

/// allocate_task_frame (`direct`) or allocate_task_frame_nontrivial, with
/// the pool's fast path inlined where it can be (see above).
template <bool direct>
[[gnu::always_inline]] inline void* allocate_task_frame_inline(std::size_t size) {
#ifdef GORO_INLINE_FRAME_ALLOCATION
    if (const std::size_t cls = frame_class_of(size + k_task_frame_header); cls < k_frame_class_count) {
        if (void* frame = take_task_frame<direct>(*this_thread_frame_lists(), cls)) [[likely]]
            return frame;
    }
#endif
    if constexpr (direct)
        return allocate_task_frame(size);
    else
        return allocate_task_frame_nontrivial(size);
}

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

/// Whether pool_allocate_frame/pool_free_frame reach the pool in this
/// process: false only where GORO_DEBUG=framepool=0 switched it off (then
/// they are the system allocator's, and a test of the pool's own
/// behaviour has nothing to check).
bool pool_pair_reaches_pool() noexcept;

}  // namespace goro::detail
