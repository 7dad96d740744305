// frame_token: counts the coroutine frames that exist. Passed by value as a
// coroutine parameter, a token lives in the frame (coroutines copy their
// parameters in), so live_frames() is the number of frames created and not
// yet destroyed, whether they ran or not:
//
//     goro::task<> noop(goro_test::frame_token) { co_return; }
//     goro::go(noop({}));  ...  REQUIRE(goro_test::live_frames() == 0);
#pragma once

#include <atomic>

namespace goro_test {

inline std::atomic<long> g_live_frame_tokens{0};

struct frame_token {
    frame_token() noexcept { g_live_frame_tokens.fetch_add(1); }
    frame_token(const frame_token&) noexcept { g_live_frame_tokens.fetch_add(1); }
    ~frame_token() { g_live_frame_tokens.fetch_sub(1); }
};

inline long live_frames() noexcept { return g_live_frame_tokens.load(); }

}  // namespace goro_test
