// UDP sockets.
#include "udp.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "detail/listen_address.hpp"

namespace goro::net {
namespace {
std::error_code last_error() noexcept { return {errno, std::system_category()}; }
}  // namespace

result<udp_socket> udp_socket::open(int family) {
    result<int> fd = detail::open_socket(family, SOCK_DGRAM);
    if (!fd) return fd.error();
    return udp_socket(*fd);
}

result<udp_socket> udp_socket::bind(const address& addr) {
    if (addr.family() != AF_INET && addr.family() != AF_INET6)
        return std::make_error_code(std::errc::address_family_not_supported);
    result<udp_socket> s = open(addr.family());
    if (!s) return s;
    if (::bind(s->native_handle(), addr.data(), addr.size()) != 0) return last_error();
    return s;
}

result<udp_socket> udp_socket::bind(std::string_view host_port) {
    result<detail::listen_address> where = detail::listen_address_for(host_port, SOCK_DGRAM);
    if (!where) return where.error();
    if (!where->dual_stack) return bind(where->addr);
    // ":port": both families on one socket, as Go; IPv4 only without IPv6.
    result<udp_socket> s = open(AF_INET6);
    if (!s) {
        if (s.error() == std::errc::address_family_not_supported) return bind(address::any_v4(where->addr.port()));
        return s;
    }
    const int zero = 0;
    if (::setsockopt(s->native_handle(), IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero) != 0) return last_error();
    if (::bind(s->native_handle(), where->addr.data(), where->addr.size()) != 0) return last_error();
    return s;
}

result<void> udp_socket::connect(const address& peer) const noexcept {
    const int fd = native_handle();
    if (fd < 0) return make_error_code(errc::closed);
    if (::connect(fd, peer.data(), peer.size()) != 0) return last_error();
    return {};
}

result<address> udp_socket::peer_address() const {
    const int fd = native_handle();
    if (fd < 0) return make_error_code(errc::closed);
    address a;
    socklen_t len = address::capacity();
    if (::getpeername(fd, a.data(), &len) != 0) return last_error();
    a.set_size(len);
    return a;
}

}  // namespace goro::net
