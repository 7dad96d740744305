// goro::net::address — a socket address: IPv4, IPv6 or a Unix socket path.
//
// An address is a sockaddr_storage plus the length that is valid in it, so
// it goes to bind/connect/sendto (data(), size()) and comes back from
// accept/recvfrom (data(), capacity(), then set_size()) without conversion.
// It is a plain value: copyable, comparable, no allocation.
//
// address::parse() takes Go's "host:port" form with a *numeric* host only:
//
//     "127.0.0.1:8080"      IPv4
//     "[::1]:8080"          IPv6, always in brackets when a port follows
//     "[fe80::1%eth0]:80"   IPv6 with a zone: an interface name or index
//     ":8080", "0.0.0.0:0"  all IPv4 interfaces. Go binds ":8080" to the
//                           dual-stack "::"; goro binds IPv4 only, say
//                           "[::]:8080" for IPv6.
//
// A host name ("localhost:80") fails with errc::host_name_needs_resolve so
// that goro::net::resolve can tell "needs DNS" from "malformed"; the host is
// checked last, so that code also says the brackets, colons and port were
// fine (split_host_port() hands the resolver the two halves). Ports are
// decimal 0-65535; service names ("http") are not looked up. The other
// failures are listed with goro::net::errc in net_error.hpp.
//
// Unix socket paths come from unix_path(); a leading '@' names a Linux
// abstract socket, as in Go ("@name" is sun_path "\0name").
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "../runtime/result.hpp"
#include "net_error.hpp"

namespace goro::net {

/// The two halves of "host:port", as address::parse splits them: host has
/// its brackets removed and keeps its zone ("fe80::1%eth0"); it is empty for
/// ":80". The port is checked (decimal, 0-65535); the host is not.
struct host_port {
    std::string_view host;
    std::uint16_t port = 0;
};

/// Go's net.SplitHostPort plus port validation, for goro::net::resolve and
/// anyone else who needs the host part of a name that parse() refused.
/// Fails with the same structural codes as address::parse: empty_address,
/// missing_port, invalid_port, too_many_colons, missing_brackets,
/// missing_close_bracket, unexpected_bracket.
[[nodiscard]] result<host_port> split_host_port(std::string_view host_port);

class address {
public:
    /// An empty address: family() is AF_UNSPEC, size() is 0, to_string() "<nil>".
    address() noexcept;

    /// Parses "ip:port", "[ipv6]:port", "[ipv6%zone]:port" or ":port". Numeric
    /// hosts only; see the file comment for the forms and errors.
    [[nodiscard]] static result<address> parse(std::string_view host_port);

    /// ip in host byte order: ipv4(0x7f000001, 80) is 127.0.0.1:80.
    [[nodiscard]] static address ipv4(std::uint32_t ip, std::uint16_t port) noexcept;
    /// ip in network order, as written: ipv4({127, 0, 0, 1}, 80).
    [[nodiscard]] static address ipv4(std::array<std::uint8_t, 4> ip, std::uint16_t port) noexcept;
    /// ip in network order; scope_id is the zone's interface index (0: none).
    [[nodiscard]] static address ipv6(const std::array<std::uint8_t, 16>& ip, std::uint16_t port,
                                      std::uint32_t scope_id = 0) noexcept;
    /// 127.0.0.1:port and [::1]:port.
    [[nodiscard]] static address loopback_v4(std::uint16_t port) noexcept;
    [[nodiscard]] static address loopback_v6(std::uint16_t port) noexcept;
    /// 0.0.0.0:port and [::]:port: every interface, for listeners.
    [[nodiscard]] static address any_v4(std::uint16_t port) noexcept;
    [[nodiscard]] static address any_v6(std::uint16_t port) noexcept;

    /// A Unix socket address. errc::path_too_long when the path and its NUL
    /// do not fit sun_path (107 bytes usable on Linux; an abstract "@name"
    /// has no NUL and may use 108); errc::invalid_path for "" or a path with
    /// a NUL byte in it.
    [[nodiscard]] static result<address> unix_path(std::string_view path);

    /// Copies len bytes of sa (at most capacity(); the rest is cut off).
    [[nodiscard]] static address from_sockaddr(const sockaddr* sa, socklen_t len) noexcept;

    /// AF_INET, AF_INET6, AF_UNIX, or AF_UNSPEC for an empty address.
    [[nodiscard]] int family() const noexcept;
    /// The port in host byte order; 0 for Unix and empty addresses.
    [[nodiscard]] std::uint16_t port() const noexcept;
    /// Changes the port of an IPv4 or IPv6 address; does nothing otherwise.
    void set_port(std::uint16_t port) noexcept;

    [[nodiscard]] const sockaddr* data() const noexcept;
    [[nodiscard]] sockaddr* data() noexcept;
    /// The number of valid bytes at data().
    [[nodiscard]] socklen_t size() const noexcept { return m_size; }
    /// sizeof(sockaddr_storage): what to pass as the length to accept/recvfrom.
    [[nodiscard]] static constexpr socklen_t capacity() noexcept { return sizeof(sockaddr_storage); }
    /// After the kernel filled data(): records how many bytes it wrote
    /// (values above capacity() are cut to capacity()).
    void set_size(socklen_t size) noexcept;

    /// "127.0.0.1:8080", "[::1]:8080", "[fe80::1%eth0]:80", "/run/x.sock",
    /// "@abstract", "" for an unnamed Unix socket, "<nil>" for an empty address.
    [[nodiscard]] std::string to_string() const;

    [[nodiscard]] bool is_ipv4() const noexcept { return family() == AF_INET; }
    [[nodiscard]] bool is_ipv6() const noexcept { return family() == AF_INET6; }
    [[nodiscard]] bool is_unix() const noexcept { return family() == AF_UNIX; }
    /// 127.0.0.0/8, ::1, or ::ffff:127.0.0.0/104. False for Unix sockets.
    [[nodiscard]] bool is_loopback() const noexcept;
    /// 0.0.0.0 or ::, the "every interface" address.
    [[nodiscard]] bool is_unspecified() const noexcept;

    /// Same family and same IP, port and IPv6 scope (flow info is ignored),
    /// or same Unix path; padding bytes never matter.
    friend bool operator==(const address& a, const address& b) noexcept;

private:
    sockaddr_storage m_storage;
    socklen_t m_size;
};

}  // namespace goro::net
