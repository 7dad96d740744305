// invariant — checks of what the runtime's comments promise: "owner only"
// (a processor's deque and ring), "sched_lock held", and the scheduler's
// invariants. As Go's throw(), libfork's LF_ASSERT and Tokio's debug_assert!:
// a broken protocol is caught where it breaks, not as a hang much later.
//
// GORO_CHECK_INVARIANTS (set by meson.build for debug, debugoptimized and
// sanitizer builds, so the test suite's ASan and TSan runs check them) turns
// GORO_ASSERT on; in release builds it compiles to nothing, and the owner
// records below are never read. A broken invariant is a bug in goro, not a
// user's mistake: it prints what broke, where, and aborts for a core dump.
#pragma once

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <thread>

#if defined(GORO_CHECK_INVARIANTS)
#define GORO_ASSERT(cond)                                                                                 \
    do {                                                                                                  \
        if (!(cond)) [[unlikely]]                                                                         \
            ::goro::detail::invariant_broken(#cond, __FILE__, __LINE__, __func__);                       \
    } while (0)
#else
#define GORO_ASSERT(cond) \
    do {                  \
    } while (0)
#endif

// Scheduler invariants cheap enough to check in every build: a broken one
// is a bug, and continuing would hang the program silently.
#define GORO_SCHED_ASSERT(cond)                                                    \
    do {                                                                           \
        if (!(cond)) [[unlikely]]                                                  \
            ::goro::detail::invariant_broken(#cond, __FILE__, __LINE__, __func__); \
    } while (0)

namespace goro::detail {

[[noreturn]] inline void invariant_broken(const char* what, const char* file, int line, const char* function) noexcept {
    std::fprintf(stderr, "goro: invariant broken in %s (%s:%d): %s\n", function, file, line, what);
    std::fflush(nullptr);
    std::abort();
}

/// The thread that owns a structure ("owner only" operations). Bound once by
/// the owner; unbound means unchecked (a deque in a unit test). Only read by
/// GORO_ASSERT, so release builds pay one word of memory and no time.
class owner_thread {
public:
    /// Called on the owner thread.
    void bind() noexcept { m_id.store(std::this_thread::get_id(), std::memory_order_relaxed); }
    /// Called on the owner thread when it gives the structure up (a lock's unlock).
    void unbind() noexcept { m_id.store(std::thread::id{}, std::memory_order_relaxed); }
    /// True only on the thread bound now.
    bool bound_to_current() const noexcept {
        return m_id.load(std::memory_order_relaxed) == std::this_thread::get_id();
    }
    /// True on the owner thread, or when no owner was bound.
    bool is_current() const noexcept {
        // relaxed: bound before the owner's first operation, on the owner
        // thread itself; other threads only compare it with their own id.
        const std::thread::id id = m_id.load(std::memory_order_relaxed);
        return id == std::thread::id{} || id == std::this_thread::get_id();
    }

private:
    std::atomic<std::thread::id> m_id{};
};

}  // namespace goro::detail
