// cpu_relax — the spin-wait hint (PAUSE on x86, YIELD on Arm): tells the core
// that it is busy-waiting, which saves power and lets a sibling hyperthread run.
#pragma once

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace goro::detail {

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#elif defined(__aarch64__)
    asm volatile("yield" ::: "memory");
#endif
}

}  // namespace goro::detail
