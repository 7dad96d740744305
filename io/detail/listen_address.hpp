// listen_address — where tcp_listener::listen("host:port") and
// udp_socket::bind("host:port") put their socket: Go's rules for
// net.Listen's address. Internal (resolve.cpp).
//
//   ":port"           every address, IPv6 and IPv4 on one socket (dual stack:
//                     [::]:port with IPV6_V6ONLY off); 0.0.0.0:port where the
//                     kernel has no IPv6;
//   "1.2.3.4:port", "[::1]:port"   that address;
//   "localhost:port"  a host name: its first address from getaddrinfo,
//                     looked up on the calling thread, as Go's Listen does
//                     (an /etc/hosts name answers at once; a name that needs
//                     DNS blocks this thread meanwhile: resolve() it first,
//                     on the blocking pool, to avoid that).
#pragma once

#include <string_view>

#include "../../runtime/result.hpp"
#include "../address.hpp"

namespace goro::net::detail {

struct listen_address {
    address addr;
    bool dual_stack = false;  // addr is [::]: turn IPV6_V6ONLY off, fall back to 0.0.0.0
};

/// `socktype`: SOCK_STREAM or SOCK_DGRAM (for the lookup). Errors: those of
/// address::parse, and errc::no_such_host for a name that resolves to nothing.
[[nodiscard]] result<listen_address> listen_address_for(std::string_view host_port, int socktype);

}  // namespace goro::net::detail
