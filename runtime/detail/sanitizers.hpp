// Which sanitizer instruments this translation unit, asked in one place.
//
// GORO_TSAN is 1 under ThreadSanitizer and GORO_ASAN is 1 under
// AddressSanitizer, else 0. g++ says so with __SANITIZE_THREAD__ and
// __SANITIZE_ADDRESS__; clang defines neither and answers
// __has_feature(thread_sanitizer) / __has_feature(address_sanitizer)
// instead, so a test of the g++ macro alone is silently false under clang.
// Use `#if GORO_TSAN`, never `#ifdef`: both macros are always defined.
// Evaluated per translation unit: the user's build and the library's may
// differ.
#pragma once

#if defined(__SANITIZE_THREAD__)
#define GORO_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define GORO_TSAN 1
#endif
#endif
#ifndef GORO_TSAN
#define GORO_TSAN 0
#endif

#if defined(__SANITIZE_ADDRESS__)
#define GORO_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GORO_ASAN 1
#endif
#endif
#ifndef GORO_ASAN
#define GORO_ASAN 0
#endif
