// Coroutine frame allocator: per-thread free lists over shared slabs.
//
// Layout: frames of up to k_max_pooled_frame bytes are rounded up to a 64-byte
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
// Sanitizer builds route allocate_frame/free_frame around all of this so
// that AddressSanitizer sees every frame's real lifetime (a recycled frame
// would hide a use-after-free); the pool stays reachable through
// pool_allocate_frame/pool_free_frame for its own stress test. So do a
// library built with -Dframe_pool=false (GORO_NO_FRAME_POOL) and, in any
// build, a process started with GORO_DEBUG=framepool=0: that one is for a
// program built with sanitizers against a goro built without them, and in
// it the test pair goes to the system allocator too (the switch is tested
// on the slow paths they share: see thread_frame_lists).

#include "frame_allocator.hpp"

#include <sys/mman.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <type_traits>
#include <vector>

#include "invariant.hpp"
#include "sanitizers.hpp"
#include "spin_mutex.hpp"

#if defined(GORO_NO_FRAME_POOL) || GORO_ASAN || GORO_TSAN
#define GORO_BYPASS_FRAME_POOL 1
#endif

namespace goro::detail {
namespace {

constexpr std::size_t k_batch_blocks = 128;
constexpr std::size_t k_slab_bytes = 1u << 20;

constexpr std::size_t block_bytes(std::size_t cls) noexcept { return (cls + 1) * k_frame_class_granularity; }

// Global state per size class: batches of free blocks handed between threads,
// and the current slab being carved. Guarded by `lock`; only touched when a
// thread's own list runs empty or overflows (once per k_batch_blocks frames).
struct batch {
    free_frame_block* head;
    std::size_t count;  // k_batch_blocks, or fewer for what an exiting thread had left
};

struct central_class {
    // Taken once per k_batch_blocks frames, by whichever threads allocate or
    // free in bulk at once (a spawner feeding 16 processors): a spinning lock,
    // which keeps worker threads out of the kernel.
    spin_mutex lock;
    std::vector<batch> batches;
    char* slab_cursor = nullptr;
    char* slab_end = nullptr;
};

std::array<central_class, k_frame_class_count>& central() {
    // Leaked on purpose: frames may be freed by threads that outlive static
    // destruction order (and slabs are process-lifetime anyway).
    static auto* classes = new std::array<central_class, k_frame_class_count>();
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
batch refill(std::size_t cls) {
    central_class& c = central()[cls];
    std::lock_guard guard(c.lock);
    if (!c.batches.empty()) {
        const batch b = c.batches.back();
        c.batches.pop_back();
        return b;
    }
    const std::size_t bytes = block_bytes(cls);
    free_frame_block* head = nullptr;
    for (std::size_t i = 0; i < k_batch_blocks; ++i) {
        if (c.slab_cursor == nullptr || c.slab_cursor + bytes > c.slab_end) {
            c.slab_cursor = static_cast<char*>(new_slab());
            c.slab_end = c.slab_cursor + k_slab_bytes;
        }
        auto* block = reinterpret_cast<free_frame_block*>(c.slab_cursor);
        c.slab_cursor += bytes;
        block->next = head;
        head = block;
    }
    return {head, k_batch_blocks};
}

void give_back(std::size_t cls, batch b) {
    central_class& c = central()[cls];
    std::lock_guard guard(c.lock);
    c.batches.push_back(b);
}

// One per thread (thread_frame_lists, in the header: a task's ramp pops
// from it inline). Only its own thread reads or writes it. A plain,
// constant-initialized thread_local with no destructor, so that reaching it
// is one %fs-relative address with no first-use guard (the guard and the
// repeated address computations were half of the 36 instructions each
// allocation cost). The thread's exit is hooked separately (exit_hook
// below), on a slow path only.
//
// Invariant, once the thread is hooked (`hook == hooked`): room[cls] ==
// 2 * k_batch_blocks - (the length of the list at heads[cls]), so a free
// that brings room to 0 takes the slow path and moves a batch out. (Or one
// more for each time that move failed for want of memory: free_slow then
// keeps the batch and sets room to 1, to try again at the next free; the
// list is only longer by as much.) Outside
// that state every list is empty and room is 1, so that a free (which
// pushes its block, then decrements room) always reaches the slow path:
// before the thread is hooked (`unhooked`: its first free hooks it; its
// first allocation finds an empty list and hooks it in allocate_slow);
// after the exit hook ran (`gone`: blocks go straight to the central
// stacks); and for the whole process when the pool is switched off at run
// time (GORO_DEBUG=framepool=0: no thread is ever hooked, and the slow
// paths allocate and free with the system allocator). So the fast paths
// need no test of the switch: an empty list, or a room that reaches 0,
// sends them to the slow path, which tests it (3 instructions off each).
//
// Why 1 and a test for 0, not 0 and a test for "0 or less": `--room == 0`
// is one decrement of memory and the jump on its flags with both g++ and
// clang (`<= 0` was a load, a decrement, a store and a test).
enum class hook_state : unsigned char { unhooked, hooked, gone };

// room's value outside the hooked state (see above).
constexpr std::int32_t k_room_unhooked = 1;

constexpr thread_frame_lists initial_thread_frames() noexcept {
    thread_frame_lists f{};
    for (auto& r : f.room) r = k_room_unhooked;
    f.hook = static_cast<unsigned char>(hook_state::unhooked);
    return f;
}

}  // namespace

// Reached by name only in this file, in functions never inlined into
// their callers (coroutine frames' operator new/delete): a coroutine may
// resume on another thread, and the address of a thread_local must never
// be reused across a suspension point (compilers have been caught doing
// it). The header's inlined fast path (allocate_task_frame_inline) reaches
// it through an asm instead, by its symbol, which is named and global for
// that. Invariant: in a build that bypasses the pool, the named lists stay
// empty forever, so that a program's inlined fast path (compiled without
// sanitizers, say, against a goro built with them) always calls the
// library; there the pool's only user, the test pair, keeps lists of its
// own.
//
// initial-exec: the library is compiled -fPIC (meson's static libraries
// are), where a thread_local's default model is a call to
// __tls_get_addr, rewritten by the linker into a plain %fs access only
// after the compiler has planned for a call: the fast paths then saved and
// restored two or three registers on every frame (issue 14). This model is
// a load of the offset and an %fs access, no call.
#ifndef GORO_BYPASS_FRAME_POOL
[[gnu::tls_model("initial-exec")]] constinit thread_local thread_frame_lists t_frames asm(
    "goro_thread_frame_lists") = initial_thread_frames();
#else
[[gnu::tls_model("initial-exec")]] constinit thread_local thread_frame_lists t_frames = initial_thread_frames();
[[gnu::tls_model("initial-exec")]] constinit thread_local thread_frame_lists t_named_lists_never_filled asm(
    "goro_thread_frame_lists") = initial_thread_frames();
#endif

namespace {

static_assert(std::is_trivially_destructible_v<thread_frame_lists>);

hook_state hook_of(const thread_frame_lists& f) noexcept { return static_cast<hook_state>(f.hook); }
void set_hook(thread_frame_lists& f, hook_state h) noexcept { f.hook = static_cast<unsigned char>(h); }

void hand_back_lists() noexcept;

// Runs hand_back_lists when the thread exits: what it kept goes to the
// central stacks for other threads. Constructed on a thread's first slow
// path (hook_thread), never on the fast paths.
struct exit_hook {
    ~exit_hook() { hand_back_lists(); }
};

void hook_thread() noexcept {
    thread_local exit_hook hook;  // registers ~exit_hook for this thread
    (void)hook;
    set_hook(t_frames, hook_state::hooked);
    for (std::size_t cls = 0; cls < k_frame_class_count; ++cls) t_frames.room[cls] = 2 * k_batch_blocks;
}

void hand_back_lists() noexcept {
    set_hook(t_frames, hook_state::gone);
    for (std::size_t cls = 0; cls < k_frame_class_count; ++cls) {
        t_frames.room[cls] = k_room_unhooked;
        while (t_frames.heads[cls]) {
            free_frame_block* first = t_frames.heads[cls];
            free_frame_block* tail = first;
            std::size_t n = 1;
            while (n < k_batch_blocks && tail->next) {
                tail = tail->next;
                ++n;
            }
            t_frames.heads[cls] = tail->next;
            tail->next = nullptr;
            try {
                give_back(cls, {first, n});
            } catch (...) {
                t_frames.heads[cls] = nullptr;
                break;  // no memory to record it: these blocks stay unused
            }
        }
    }
}

// GORO_DEBUG=framepool=0 (read once, at the first frame): frames come from
// ::operator new instead of the pool, so that a sanitizer in the program sees
// them. Invariant: the answer never changes during the process, so every
// frame is freed the way it was allocated. Tested on the slow paths only
// (see thread_frame_lists): while the pool is off or undecided, no thread is
// hooked, so every allocation finds an empty list and every free a room
// that reaches 0.
#ifndef GORO_BYPASS_FRAME_POOL
// The switch's answer: 0 until the first frame, then 1 (pool) or -1
// (bypass). Decided once by compare-exchange, so that every thread sees the
// first answer even if the environment changed in between.
std::atomic<signed char> g_pool_state{0};

[[gnu::noinline, gnu::cold]] signed char decide_pool_state() noexcept {
    const char* env = std::getenv("GORO_DEBUG");
    signed char expected = 0;
    const signed char decided = env && std::strstr(env, "framepool=0") != nullptr ? -1 : 1;
    // relaxed: the byte publishes nothing but itself.
    g_pool_state.compare_exchange_strong(expected, decided, std::memory_order_relaxed);
    return expected != 0 ? expected : decided;
}
#endif

bool pool_on() noexcept {
#ifdef GORO_BYPASS_FRAME_POOL
    return false;
#else
    signed char state = g_pool_state.load(std::memory_order_relaxed);
    if (state == 0) [[unlikely]]
        state = decide_pool_state();
    return state > 0;
#endif
}

// Whether the slow paths below must hand a request to the system allocator
// instead: the run-time switch is off. Never in a build that bypasses the
// pool at compile time: there only the exported test pair reaches the pool
// (allocate_frame and the task-frame functions never do), and it must use
// it.
bool switched_off() noexcept {
#ifdef GORO_BYPASS_FRAME_POOL
    return false;
#else
    return !pool_on();
#endif
}

// allocate's slow path: the list of `cls` is empty (or the thread is not
// hooked yet, or the pool is switched off: then the system allocator's
// block). Refills the list with a batch and pops one block.
[[gnu::noinline]] void* allocate_slow(std::size_t cls, std::size_t size) {
    if (hook_of(t_frames) == hook_state::unhooked) {
        if (switched_off()) return ::operator new(size);
        hook_thread();
    }
    if (hook_of(t_frames) == hook_state::gone) {
        // Exiting thread (another thread_local's destructor): one block
        // from a batch, the rest handed straight back.
        batch b = refill(cls);
        free_frame_block* block = b.head;
        if (b.count > 1) {
            try {
                give_back(cls, {block->next, b.count - 1});
            } catch (...) {
            }
        }
        return block;
    }
    if (!t_frames.heads[cls]) {
        const batch b = refill(cls);
        t_frames.heads[cls] = b.head;
        t_frames.room[cls] -= static_cast<std::int32_t>(b.count);
    }
    free_frame_block* block = t_frames.heads[cls];
    t_frames.heads[cls] = block->next;
    ++t_frames.room[cls];
    return block;
}

// free's slow path: a block was pushed on the list of `cls` and room fell
// to 0 (an overflowing list, a thread not hooked yet or exiting, or the
// pool switched off).
[[gnu::noinline]] void free_slow(std::size_t cls) noexcept {
    if (hook_of(t_frames) != hook_state::hooked) {
        free_frame_block* block = t_frames.heads[cls];
        if (hook_of(t_frames) == hook_state::unhooked && !switched_off()) {
            hook_thread();
            --t_frames.room[cls];  // the block just pushed
            return;
        }
        // Not for this thread's list: exiting, or from ::operator new
        // (the pool switched off). Every list stays empty, room 1.
        t_frames.heads[cls] = block->next;
        t_frames.room[cls] = k_room_unhooked;
        if (hook_of(t_frames) == hook_state::unhooked) {
            ::operator delete(block);
            return;
        }
        block->next = nullptr;
        try {
            give_back(cls, {block, 1});
        } catch (...) {
        }
        return;
    }
    // Overflow: detach the newest k_batch_blocks blocks as one batch.
    free_frame_block* first = t_frames.heads[cls];
    free_frame_block* tail = first;
    for (std::size_t i = 1; i < k_batch_blocks; ++i) tail = tail->next;
    // Detached before it is published: once give_back releases the lock,
    // another thread may take the batch and walk it to its end.
    t_frames.heads[cls] = tail->next;
    tail->next = nullptr;
    try {
        give_back(cls, {first, k_batch_blocks});
    } catch (...) {
        // vector growth failed: keep the blocks locally, and try again at
        // the next free (room 1).
        tail->next = t_frames.heads[cls];
        t_frames.heads[cls] = first;
        t_frames.room[cls] = 1;
        return;
    }
    t_frames.room[cls] += static_cast<std::int32_t>(k_batch_blocks);
}

// The pool itself, inlined into the exported functions below (which are
// never inlined into their callers: see t_frames).
[[gnu::always_inline]] inline void* pool_allocate(std::size_t size) {
    // Classes cover 1..k_max_pooled_frame (no coroutine frame is empty).
    static_assert(k_max_pooled_frame % k_frame_class_granularity == 0);
    if (const std::size_t cls = frame_class_of(size); cls < k_frame_class_count) [[likely]] {
        free_frame_block* block = t_frames.heads[cls];
        if (block) [[likely]] {
            t_frames.heads[cls] = block->next;
            ++t_frames.room[cls];
            return block;
        }
        return allocate_slow(cls, size);
    }
    return ::operator new(size);  // past the pool, or empty (the exported pair takes any size)
}

// A block of class `cls` back on this thread's list; past the classes, to
// the system allocator.
[[gnu::always_inline]] inline void pool_free_class(void* frame, std::size_t cls) noexcept {
    if (cls < k_frame_class_count) [[likely]] {
        auto* block = static_cast<free_frame_block*>(frame);
        block->next = t_frames.heads[cls];
        t_frames.heads[cls] = block;
        if (--t_frames.room[cls] == 0) [[unlikely]]
            free_slow(cls);
        return;
    }
    ::operator delete(frame);
}

[[gnu::always_inline]] inline void pool_free(void* frame, std::size_t size) noexcept {
    pool_free_class(frame, frame_class_of(size));
}

}  // namespace

bool frame_pool_enabled() noexcept { return pool_on(); }

// allocate_frame and free_frame: the pool, which hands a request to the
// system allocator on its slow paths when it is switched off; a build that
// bypasses it at compile time never touches it.
[[gnu::noinline]] void* allocate_frame(std::size_t size) {
#ifdef GORO_BYPASS_FRAME_POOL
    return ::operator new(size);
#else
    return pool_allocate(size);
#endif
}

[[gnu::noinline]] void free_frame(void* frame, std::size_t size) noexcept {
#ifdef GORO_BYPASS_FRAME_POOL
    (void)size;
    ::operator delete(frame);
#else
    pool_free(frame, size);
#endif
}

namespace {

template <bool direct>
[[gnu::noinline]] void* allocate_task_frame_slow(std::size_t size) {
    const std::size_t block_size = size + k_task_frame_header;
    return frame_in_block<direct>(allocate_frame(block_size), frame_class_of(block_size));
}

// A task frame's block back where it came from: free_frame's body,
// inlined so that the task-frame functions stay leaves but for a tail call.
[[gnu::always_inline]] inline void free_task_block(task_frame_header* header, std::size_t cls) noexcept {
#ifdef GORO_BYPASS_FRAME_POOL
    (void)cls;
    ::operator delete(header);
#else
    pool_free_class(header, cls);
#endif
}

template <bool direct>
[[gnu::always_inline]] inline void* allocate_task_frame_in(std::size_t size) {
#ifndef GORO_BYPASS_FRAME_POOL
    if (const std::size_t cls = frame_class_of(size + k_task_frame_header); cls < k_frame_class_count) [[likely]] {
        if (void* frame = take_task_frame<direct>(t_frames, cls)) [[likely]]
            return frame;
    }
#endif
    return allocate_task_frame_slow<direct>(size);
}

}  // namespace

[[gnu::noinline]] void* allocate_task_frame(std::size_t size) { return allocate_task_frame_in<true>(size); }

[[gnu::noinline]] void* allocate_task_frame_nontrivial(std::size_t size) {
    return allocate_task_frame_in<false>(size);
}

// Both frees clear the check word: no freed memory holds a valid one. A
// frame goro did not allocate (elided into its caller's, or padded) is
// judged by the 8 bytes before it, and memory from the system allocator
// (frames over 2 KiB, sanitizer builds) may be carved differently next
// time: a stale word left there could otherwise pass for a later frame
// at that very address.
[[gnu::noinline]] void free_task_frame(void* frame, std::size_t size) noexcept {
    task_frame_header* header = static_cast<task_frame_header*>(frame) - 1;
    header->check = 0;
    free_task_block(header, frame_class_of(size + k_task_frame_header));
}

[[gnu::noinline]] void free_finished_task_frame(void* frame) noexcept {
    GORO_ASSERT(frees_directly(frame));
    task_frame_header* header = static_cast<task_frame_header*>(frame) - 1;
    header->check = 0;
    free_task_block(header, header->cls);
}

[[gnu::noinline]] void* pool_allocate_frame(std::size_t size) { return pool_allocate(size); }
[[gnu::noinline]] void pool_free_frame(void* frame, std::size_t size) noexcept { pool_free(frame, size); }

bool pool_pair_reaches_pool() noexcept { return !switched_off(); }

}  // namespace goro::detail
