// Helpers shared by the goro::net tests (net_deadline_test, net_close_test,
// net_context_test): a hang guard for deadline-bound operations, and a
// writer that fills a socket buffer and blocks.
//
//     REQUIRE(goro_test::ms_since(t0) < goro_test::k_hang_guard_ms);
//     goro_test::small_buffers(p.client, p.server);
//     auto writer = goro::spawn(goro_test::write_all_big(p.client));  // blocks
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <system_error>

#include <goro/goro.hpp>

namespace goro_test {

// Bounds on how long a deadline-bound operation took are hang guards only:
// they tell "our deadline ended it" from "it never ends" or "the kernel's own
// timeout (minutes) ended it", and are far above any figure (a shared, noisy
// machine): the latencies themselves are benchmark business.
inline constexpr std::int64_t k_hang_guard_ms = 10'000;

inline std::int64_t ms_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
}

// Shrinks both ends' buffers (which also turns off autotuning), so that a
// peer that never reads stops a writer after a few kilobytes.
inline void small_buffers(const goro::net::stream_socket& writer, const goro::net::stream_socket& reader) {
    const int size = 4096;
    ::setsockopt(writer.native_handle(), SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    ::setsockopt(reader.native_handle(), SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
}

// write_all of more than any socket buffer holds, to a peer that never reads.
template <typename... Ctx>
goro::task<std::error_code> write_all_big(goro::net::stream_socket s, Ctx... ctx) {
    const std::string data(4 << 20, 'b');
    auto r = co_await s.write_all(data, ctx...);
    co_return r ? std::error_code{} : r.error();
}

}  // namespace goro_test
