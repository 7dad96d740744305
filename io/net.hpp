// goro::net — Go's net package on io_uring. The umbrella header:
//
//     #include "io/net.hpp"     // or <goro/io/net.hpp> after install
//
// Pieces: address.hpp (goro::net::address), net_error.hpp (errc, is_timeout,
// is_closed), deadline.hpp, socket.hpp (handles, streams, the result
// conventions), tcp.hpp, udp.hpp, unix.hpp, and resolve() below.
//
// How it runs: every operation is one io_uring request submitted on the ring
// of the processor running the task (io/detail/io_op.hpp, io/detail/poller.hpp);
// a blocked task holds no thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "address.hpp"
#include "deadline.hpp"
#include "net_error.hpp"
#include "socket.hpp"
#include "tcp.hpp"
#include "udp.hpp"
#include "unix.hpp"

namespace goro::net {

/// Resolves host (a name or a numeric IP) to addresses with the given port,
/// with getaddrinfo on the blocking pool (goro::blocking). Errors: the
/// parse errors of address.hpp for malformed input, EAI_* failures as
/// std::errc::host_unreachable-like system codes (see resolve.cpp), and
/// errc::no_such_host ("no such host", equal to
/// std::errc::no_such_device_or_address) for a name that does not exist.
[[nodiscard]] task<result<std::vector<address>>> resolve(std::string host, std::uint16_t port);
/// "host:port".
[[nodiscard]] task<result<std::vector<address>>> resolve(std::string_view host_port);
/// The same, bounded by ctx: ctx.err() once it is done. getaddrinfo itself
/// cannot be interrupted: it finishes on its pool thread with nobody waiting
/// (as Go's cgo resolver does), holding that thread until it returns, in a
/// task of its own spawned at `site` (dumps and traces name the caller's line).
[[nodiscard]] task<result<std::vector<address>>> resolve(
    std::string host, std::uint16_t port, context ctx, std::source_location site = std::source_location::current());
[[nodiscard]] task<result<std::vector<address>>> resolve(
    std::string_view host_port, context ctx, std::source_location site = std::source_location::current());

}  // namespace goro::net
