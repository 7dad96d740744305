// GORO_TAIL_CALLS: 1 where symmetric transfer compiles to a tail call (an
// optimized build without sanitizers), 0 where it may not (no
// optimization, AddressSanitizer, ThreadSanitizer). Where it does not,
// each co_await that resumes another coroutine nests a native frame, so
// code that relies on an await chain using no stack must bound its depth
// (fj_region::bounded_stack) and must not grow each frame by forcing
// inlining (GORO_INLINE_WHEN_OPTIMIZED, task.hpp). Evaluated in each
// translation unit: the user's build and the library's may differ.
#pragma once

#include "sanitizers.hpp"

#if !defined(__OPTIMIZE__) || GORO_ASAN || GORO_TSAN
#define GORO_TAIL_CALLS 0
#else
#define GORO_TAIL_CALLS 1
#endif
