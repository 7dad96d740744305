// goro::net::address — parsing and printing socket addresses. See address.hpp.
//
// Parsing goes in two steps, like Go's SplitHostPort followed by ParseIP:
// split_host_port() checks the structure (brackets, colons) and the port,
// then parse() converts the host with inet_pton. Because the host is looked
// at last, errc::host_name_needs_resolve promises that everything else in
// the string was valid, so the resolver only has to look the name up.
#include "address.hpp"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <algorithm>
#include <cstddef>
#include <cstring>

namespace goro::net {
namespace {

constexpr std::string_view::size_type npos = std::string_view::npos;

// sun_path bytes before the path; the kernel's view of an unnamed socket is
// an address this long or shorter.
constexpr socklen_t k_sun_path_offset = offsetof(sockaddr_un, sun_path);
constexpr std::size_t k_sun_path_size = sizeof(sockaddr_un::sun_path);

struct split_result {
    std::string_view host;
    std::uint16_t port = 0;
    bool bracketed = false;
};

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

// Decimal 0-65535, at least one digit. Leading zeros are fine ("080"), as in Go.
result<std::uint16_t> parse_port(std::string_view s) {
    if (s.empty()) return make_error_code(errc::missing_port);
    std::uint32_t value = 0;
    for (char c : s) {
        if (!is_digit(c)) return make_error_code(errc::invalid_port);
        value = value * 10 + static_cast<std::uint32_t>(c - '0');
        if (value > 65535) return make_error_code(errc::invalid_port);
    }
    return static_cast<std::uint16_t>(value);
}

// inet_pton wants a NUL-terminated string; hosts longer than any IP literal
// are not IPs and never reach it.
bool parse_ipv4(std::string_view s, in_addr& out) noexcept {
    char buf[INET_ADDRSTRLEN];
    if (s.size() >= sizeof buf) return false;
    std::memcpy(buf, s.data(), s.size());
    buf[s.size()] = '\0';
    return inet_pton(AF_INET, buf, &out) == 1;
}

bool parse_ipv6(std::string_view s, in6_addr& out) noexcept {
    char buf[INET6_ADDRSTRLEN];
    if (s.size() >= sizeof buf) return false;
    std::memcpy(buf, s.data(), s.size());
    buf[s.size()] = '\0';
    return inet_pton(AF_INET6, buf, &out) == 1;
}

// A zone is an interface index ("2") or name ("eth0").
result<std::uint32_t> parse_zone(std::string_view zone) {
    if (zone.empty()) return make_error_code(errc::invalid_zone);
    if (std::all_of(zone.begin(), zone.end(), is_digit)) {
        std::uint64_t value = 0;
        for (char c : zone) {
            value = value * 10 + static_cast<std::uint64_t>(c - '0');
            if (value > 0xffffffffu) return make_error_code(errc::invalid_zone);
        }
        return static_cast<std::uint32_t>(value);
    }
    char name[IF_NAMESIZE];
    if (zone.size() >= sizeof name || zone.find('\0') != npos) return make_error_code(errc::invalid_zone);
    std::memcpy(name, zone.data(), zone.size());
    name[zone.size()] = '\0';
    unsigned index = if_nametoindex(name);
    if (index == 0) return make_error_code(errc::invalid_zone);
    return static_cast<std::uint32_t>(index);
}

// Letters, digits, '-', '_' and '.', with at least one character that is not
// a digit or a dot: "1.2.3.256" is a broken IP, not a name. The resolver
// does the real validation; this only sorts "needs DNS" from "garbage".
bool looks_like_host_name(std::string_view s) noexcept {
    bool has_name_char = false;
    for (char c : s) {
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        if (alpha || c == '-' || c == '_') {
            has_name_char = true;
        } else if (!is_digit(c) && c != '.') {
            return false;
        }
    }
    return has_name_char;
}

result<split_result> split(std::string_view s) {
    if (s.empty()) return make_error_code(errc::empty_address);
    split_result out;
    std::string_view port;
    if (s.front() == '[') {
        auto close = s.find(']');
        if (close == npos) return make_error_code(errc::missing_close_bracket);
        out.host = s.substr(1, close - 1);
        out.bracketed = true;
        std::string_view rest = s.substr(close + 1);
        if (out.host.find('[') != npos) return make_error_code(errc::unexpected_bracket);
        if (rest.empty()) return make_error_code(errc::missing_port);
        if (rest.find_first_of("[]") != npos) return make_error_code(errc::unexpected_bracket);
        if (rest.front() != ':') return make_error_code(errc::missing_port);  // "[::1]x:80", as Go
        port = rest.substr(1);
        if (port.find(':') != npos) return make_error_code(errc::too_many_colons);
    } else {
        if (s.find_first_of("[]") != npos) return make_error_code(errc::unexpected_bracket);
        auto colon = s.rfind(':');
        if (colon == npos) return make_error_code(errc::missing_port);
        out.host = s.substr(0, colon);
        port = s.substr(colon + 1);
        if (out.host.find(':') != npos) {
            // "::1:80" or "fe80::1": an IPv6 literal that wanted brackets.
            // Anything else with two colons is Go's "too many colons".
            in6_addr ignored;
            std::string_view whole = s.substr(0, s.find('%'));
            std::string_view head = out.host.substr(0, out.host.find('%'));
            if (parse_ipv6(whole, ignored) || parse_ipv6(head, ignored))
                return make_error_code(errc::missing_brackets);
            return make_error_code(errc::too_many_colons);
        }
    }
    auto p = parse_port(port);
    if (!p) return p.error();
    out.port = *p;
    return out;
}

// The path of a Unix address and whether it is abstract; {false, ""} for
// an unnamed socket. Pathnames stop at the first NUL, as the kernel reads them.
struct unix_name {
    bool abstract = false;
    std::string_view path;
};

unix_name name_of(const sockaddr_storage& storage, socklen_t size) noexcept {
    if (size <= k_sun_path_offset) return {};
    const auto* un = reinterpret_cast<const sockaddr_un*>(&storage);
    std::size_t len = std::min<std::size_t>(size - k_sun_path_offset, k_sun_path_size);
    if (un->sun_path[0] == '\0') return {true, std::string_view(un->sun_path + 1, len - 1)};
    return {false, std::string_view(un->sun_path, strnlen(un->sun_path, len))};
}

}  // namespace

result<host_port> split_host_port(std::string_view s) {
    auto r = split(s);
    if (!r) return r.error();
    return host_port{r->host, r->port};
}

address::address() noexcept : m_storage{}, m_size(0) { m_storage.ss_family = AF_UNSPEC; }

result<address> address::parse(std::string_view s) {
    auto parts = split(s);
    if (!parts) return parts.error();
    std::string_view host = parts->host;
    const std::uint16_t port = parts->port;

    if (host.empty()) {
        // ":80" means every IPv4 interface; "[]:80" is an empty IPv6 literal.
        if (parts->bracketed) return make_error_code(errc::invalid_ip);
        return any_v4(port);
    }

    auto percent = host.find('%');
    std::string_view ip = host.substr(0, percent);
    in6_addr v6{};
    if (percent != npos) {
        if (!parse_ipv6(ip, v6)) return make_error_code(errc::invalid_ip);
        auto zone = parse_zone(host.substr(percent + 1));
        if (!zone) return zone.error();
        address a = any_v6(port);
        auto* sin6 = reinterpret_cast<sockaddr_in6*>(&a.m_storage);
        sin6->sin6_addr = v6;
        sin6->sin6_scope_id = *zone;
        return a;
    }
    if (parse_ipv6(ip, v6)) {
        address a = any_v6(port);
        reinterpret_cast<sockaddr_in6*>(&a.m_storage)->sin6_addr = v6;
        return a;
    }
    in_addr v4{};
    if (parse_ipv4(ip, v4)) {  // also "[1.2.3.4]:80", which Go accepts too
        address a = any_v4(port);
        reinterpret_cast<sockaddr_in*>(&a.m_storage)->sin_addr = v4;
        return a;
    }
    if (looks_like_host_name(host)) return make_error_code(errc::host_name_needs_resolve);
    return make_error_code(errc::invalid_ip);
}

address address::ipv4(std::uint32_t ip, std::uint16_t port) noexcept {
    address a;
    auto* sin = reinterpret_cast<sockaddr_in*>(&a.m_storage);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    sin->sin_addr.s_addr = htonl(ip);
    a.m_size = sizeof(sockaddr_in);
    return a;
}

address address::ipv4(std::array<std::uint8_t, 4> ip, std::uint16_t port) noexcept {
    return ipv4(static_cast<std::uint32_t>(ip[0]) << 24 | static_cast<std::uint32_t>(ip[1]) << 16 |
                    static_cast<std::uint32_t>(ip[2]) << 8 | ip[3],
                port);
}

address address::ipv6(const std::array<std::uint8_t, 16>& ip, std::uint16_t port,
                       std::uint32_t scope_id) noexcept {
    address a;
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&a.m_storage);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    std::memcpy(&sin6->sin6_addr, ip.data(), ip.size());
    sin6->sin6_scope_id = scope_id;
    a.m_size = sizeof(sockaddr_in6);
    return a;
}

address address::loopback_v4(std::uint16_t port) noexcept { return ipv4(INADDR_LOOPBACK, port); }

address address::loopback_v6(std::uint16_t port) noexcept {
    std::array<std::uint8_t, 16> ip{};
    ip[15] = 1;
    return ipv6(ip, port);
}

address address::any_v4(std::uint16_t port) noexcept { return ipv4(INADDR_ANY, port); }

address address::any_v6(std::uint16_t port) noexcept { return ipv6({}, port); }

result<address> address::unix_path(std::string_view path) {
    if (path.empty() || path.find('\0') != npos) return make_error_code(errc::invalid_path);
    const bool abstract = path.front() == '@';
    // A pathname needs room for its NUL; an abstract name has none (its
    // length is the address length) but starts with a NUL in place of '@'.
    if (path.size() + (abstract ? 0 : 1) > k_sun_path_size) return make_error_code(errc::path_too_long);
    address a;
    auto* un = reinterpret_cast<sockaddr_un*>(&a.m_storage);
    un->sun_family = AF_UNIX;
    std::memcpy(un->sun_path, path.data(), path.size());
    if (abstract) {
        un->sun_path[0] = '\0';
        a.m_size = static_cast<socklen_t>(k_sun_path_offset + path.size());
    } else {
        a.m_size = static_cast<socklen_t>(k_sun_path_offset + path.size() + 1);
    }
    return a;
}

address address::from_sockaddr(const sockaddr* sa, socklen_t len) noexcept {
    address a;
    if (sa == nullptr) return a;
    a.m_size = std::min(len, capacity());
    std::memcpy(&a.m_storage, sa, a.m_size);
    return a;
}

int address::family() const noexcept { return m_storage.ss_family; }

std::uint16_t address::port() const noexcept {
    switch (family()) {
    case AF_INET: return ntohs(reinterpret_cast<const sockaddr_in*>(&m_storage)->sin_port);
    case AF_INET6: return ntohs(reinterpret_cast<const sockaddr_in6*>(&m_storage)->sin6_port);
    default: return 0;
    }
}

void address::set_port(std::uint16_t port) noexcept {
    switch (family()) {
    case AF_INET: reinterpret_cast<sockaddr_in*>(&m_storage)->sin_port = htons(port); break;
    case AF_INET6: reinterpret_cast<sockaddr_in6*>(&m_storage)->sin6_port = htons(port); break;
    default: break;
    }
}

const sockaddr* address::data() const noexcept { return reinterpret_cast<const sockaddr*>(&m_storage); }

sockaddr* address::data() noexcept { return reinterpret_cast<sockaddr*>(&m_storage); }

void address::set_size(socklen_t size) noexcept { m_size = std::min(size, capacity()); }

std::string address::to_string() const {
    char ip[INET6_ADDRSTRLEN];
    switch (family()) {
    case AF_INET: {
        const auto* sin = reinterpret_cast<const sockaddr_in*>(&m_storage);
        inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof ip);
        return std::string(ip) + ':' + std::to_string(port());
    }
    case AF_INET6: {
        const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&m_storage);
        inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof ip);
        std::string out = "[";
        out += ip;
        if (sin6->sin6_scope_id != 0) {
            char name[IF_NAMESIZE];
            out += '%';
            if (if_indextoname(sin6->sin6_scope_id, name) != nullptr) {
                out += name;
            } else {
                out += std::to_string(sin6->sin6_scope_id);
            }
        }
        out += "]:";
        out += std::to_string(port());
        return out;
    }
    case AF_UNIX: {
        // Appends, not "@" + std::string(...): GCC 12 warns falsely (-Wrestrict,
        // GCC bug 105329) on operator+(const char*, std::string&&) at -O3.
        unix_name n = name_of(m_storage, m_size);
        std::string out;
        if (n.abstract) out += '@';
        out += n.path;
        return out;
    }
    case AF_UNSPEC: return "<nil>";
    default: {
        std::string out = "<family ";
        out += std::to_string(family());
        out += '>';
        return out;
    }
    }
}

bool address::is_loopback() const noexcept {
    if (family() == AF_INET) {
        return (ntohl(reinterpret_cast<const sockaddr_in*>(&m_storage)->sin_addr.s_addr) >> 24) == 127;
    }
    if (family() == AF_INET6) {
        const in6_addr& a = reinterpret_cast<const sockaddr_in6*>(&m_storage)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(&a) || (IN6_IS_ADDR_V4MAPPED(&a) && a.s6_addr[12] == 127);
    }
    return false;
}

bool address::is_unspecified() const noexcept {
    if (family() == AF_INET) return reinterpret_cast<const sockaddr_in*>(&m_storage)->sin_addr.s_addr == 0;
    if (family() == AF_INET6) {
        return IN6_IS_ADDR_UNSPECIFIED(&reinterpret_cast<const sockaddr_in6*>(&m_storage)->sin6_addr);
    }
    return false;
}

bool operator==(const address& a, const address& b) noexcept {
    if (a.family() != b.family()) return false;
    switch (a.family()) {
    case AF_UNSPEC: return true;
    case AF_INET: {
        const auto* x = reinterpret_cast<const sockaddr_in*>(&a.m_storage);
        const auto* y = reinterpret_cast<const sockaddr_in*>(&b.m_storage);
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    case AF_INET6: {
        const auto* x = reinterpret_cast<const sockaddr_in6*>(&a.m_storage);
        const auto* y = reinterpret_cast<const sockaddr_in6*>(&b.m_storage);
        return x->sin6_port == y->sin6_port && x->sin6_scope_id == y->sin6_scope_id &&
               std::memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
    }
    case AF_UNIX: {
        unix_name x = name_of(a.m_storage, a.m_size);
        unix_name y = name_of(b.m_storage, b.m_size);
        return x.abstract == y.abstract && x.path == y.path;
    }
    default:
        return a.m_size == b.m_size && std::memcmp(&a.m_storage, &b.m_storage, a.m_size) == 0;
    }
}

}  // namespace goro::net
