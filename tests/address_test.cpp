// Tests for goro::net::address (io/address.hpp) and the goro.net error
// category (io/net_error.hpp): every accepted and refused address form,
// printing and re-parsing, Unix paths, and the timeout/closed predicates.
// No sockets are opened; if_nametoindex("lo") is the only system lookup.
#include <catch2/catch.hpp>

#include <net/if.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include <goro/io/address.hpp>
#include <goro/io/net_error.hpp>

using goro::net::address;
using goro::net::errc;

namespace {

std::string error_of(std::string_view s) {
    auto r = address::parse(s);
    return r ? "ok " + r->to_string() : r.error().message();
}

}  // namespace

TEST_CASE("numeric addresses parse, print and re-parse", "[net][address]") {
    struct good {
        std::string input;
        int family;
        std::uint16_t port;
        std::string printed;
    };
    const std::vector<good> cases = {
        {"127.0.0.1:8080", AF_INET, 8080, "127.0.0.1:8080"},
        {"0.0.0.0:0", AF_INET, 0, "0.0.0.0:0"},
        {":8080", AF_INET, 8080, "0.0.0.0:8080"},
        {"1.2.3.4:65535", AF_INET, 65535, "1.2.3.4:65535"},
        {"255.255.255.255:1", AF_INET, 1, "255.255.255.255:1"},
        {"10.0.0.1:080", AF_INET, 80, "10.0.0.1:80"},
        {"[1.2.3.4]:80", AF_INET, 80, "1.2.3.4:80"},  // Go accepts brackets around IPv4 too
        {"[::1]:8080", AF_INET6, 8080, "[::1]:8080"},
        {"[::]:0", AF_INET6, 0, "[::]:0"},
        {"[2001:db8::1]:443", AF_INET6, 443, "[2001:db8::1]:443"},
        {"[2001:DB8:0:0:0:0:0:1]:443", AF_INET6, 443, "[2001:db8::1]:443"},
        {"[::ffff:1.2.3.4]:80", AF_INET6, 80, "[::ffff:1.2.3.4]:80"},
    };
    for (const auto& c : cases) {
        INFO(c.input);
        auto a = address::parse(c.input);
        REQUIRE(a);
        CHECK(a->family() == c.family);
        CHECK(a->port() == c.port);
        CHECK(a->to_string() == c.printed);
        CHECK(a->size() == (c.family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6)));
        auto again = address::parse(a->to_string());
        REQUIRE(again);
        CHECK(*again == *a);
    }
    CHECK(address::parse(":8080")->is_unspecified());
    CHECK(address::parse("[::]:1")->is_unspecified());
    CHECK_FALSE(address::parse("1.2.3.4:1")->is_unspecified());
}

TEST_CASE("IPv6 zones are interface indexes or names", "[net][address]") {
    auto numeric = address::parse("[fe80::1%7]:80");
    REQUIRE(numeric);
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(numeric->data());
    CHECK(sin6->sin6_scope_id == 7);
    CHECK(numeric->port() == 80);
    // Printed with the interface name when index 7 exists, else the number;
    // either form parses back to the same address when the name exists.
    auto printed = numeric->to_string();
    CHECK(printed.starts_with("[fe80::1%"));
    CHECK(printed.ends_with("]:80"));
    CHECK(*numeric != *address::parse("[fe80::1]:80"));
    CHECK(*numeric != *address::parse("[fe80::1%8]:80"));

    const unsigned lo = if_nametoindex("lo");
    if (lo == 0) {
        WARN("no loopback interface named lo here; interface-name zones not tested");
        return;
    }
    auto named = address::parse("[fe80::1%lo]:80");
    REQUIRE(named);
    CHECK(reinterpret_cast<const sockaddr_in6*>(named->data())->sin6_scope_id == lo);
    CHECK(named->to_string() == "[fe80::1%lo]:80");
    CHECK(*named == *address::parse("[fe80::1%" + std::to_string(lo) + "]:80"));
}

TEST_CASE("malformed addresses fail with the matching code", "[net][address]") {
    struct bad {
        std::string input;
        errc expected;
    };
    const std::vector<bad> cases = {
        {"", errc::empty_address},
        {"127.0.0.1", errc::missing_port},
        {"127.0.0.1:", errc::missing_port},
        {"[::1]", errc::missing_port},
        {"[::1]:", errc::missing_port},
        {"[::1]x:80", errc::missing_port},
        {"localhost", errc::missing_port},
        {"127.0.0.1:65536", errc::invalid_port},
        {"127.0.0.1:99999999999999999999", errc::invalid_port},
        {"127.0.0.1:-1", errc::invalid_port},
        {"127.0.0.1:+80", errc::invalid_port},
        {"127.0.0.1:http", errc::invalid_port},
        {"127.0.0.1:80 ", errc::invalid_port},
        {"127.0.0.1:0x50", errc::invalid_port},
        {"[::1]:8o", errc::invalid_port},
        {"localhost:99999", errc::invalid_port},  // the port is checked before the host
        {"::1", errc::missing_brackets},
        {"::1:8080", errc::missing_brackets},
        {"2001:db8::1:443", errc::missing_brackets},
        {"fe80::1%lo:80", errc::missing_brackets},
        {"1:2:3", errc::too_many_colons},
        {"a:b:c", errc::too_many_colons},
        {"1.2.3.4:80:90", errc::too_many_colons},
        {"[::1]:80:90", errc::too_many_colons},
        {"[::1:80", errc::missing_close_bracket},
        {"[", errc::missing_close_bracket},
        {"::1]:80", errc::unexpected_bracket},
        {"1.2.3.4]:80", errc::unexpected_bracket},
        {"[[::1]]:80", errc::unexpected_bracket},
        {"[::1]]:80", errc::unexpected_bracket},
        {"[::1]:[80]", errc::unexpected_bracket},
        {"localhost:80", errc::host_name_needs_resolve},
        {"example.com:443", errc::host_name_needs_resolve},
        {"my_host-1.internal:0", errc::host_name_needs_resolve},
        {"[localhost]:80", errc::host_name_needs_resolve},
        {"256.1.1.1:80", errc::invalid_ip},
        {"1.2.3:80", errc::invalid_ip},
        {"1.2.3.4.5:80", errc::invalid_ip},
        {"01.2.3.4:80", errc::invalid_ip},  // leading zeros are ambiguous (octal?), as in Go
        {"1.2.3.4 :80", errc::invalid_ip},
        {" 1.2.3.4:80", errc::invalid_ip},
        {"host name:80", errc::invalid_ip},
        {"1.2.3.4%lo:80", errc::invalid_ip},
        {"[::g]:80", errc::invalid_ip},
        {"[]:80", errc::invalid_ip},
        {"[1.2.3.4%lo]:80", errc::invalid_ip},
        {"[fe80::1%]:80", errc::invalid_zone},
        {"[fe80::1%no-such-if0]:80", errc::invalid_zone},
        {"[fe80::1%a-name-longer-than-ifnamsiz]:80", errc::invalid_zone},
        {"[fe80::1%4294967296]:80", errc::invalid_zone},
    };
    for (const auto& c : cases) {
        INFO("input \"" << c.input << "\" gave: " << error_of(c.input));
        auto r = address::parse(c.input);
        REQUIRE_FALSE(r);
        CHECK(r.error() == c.expected);
        CHECK(r.error().category().name() == std::string("goro.net"));
    }
}

TEST_CASE("ports 0 and 65535 are valid, 65536 is not", "[net][address]") {
    CHECK(address::parse("127.0.0.1:0")->port() == 0);
    CHECK(address::parse("127.0.0.1:65535")->port() == 65535);
    CHECK(address::parse("[::1]:65535")->port() == 65535);
    CHECK(address::parse("127.0.0.1:65536").error() == errc::invalid_port);
    CHECK(address::parse("[::1]:65536").error() == errc::invalid_port);
    CHECK(address::parse("127.0.0.1:00000000000000065535")->port() == 65535);
}

TEST_CASE("split_host_port hands the resolver both halves", "[net][address]") {
    auto hp = goro::net::split_host_port("example.com:443");
    REQUIRE(hp);
    CHECK(hp->host == "example.com");
    CHECK(hp->port == 443);
    hp = goro::net::split_host_port("[fe80::1%eth0]:80");
    REQUIRE(hp);
    CHECK(hp->host == "fe80::1%eth0");
    CHECK(hp->port == 80);
    hp = goro::net::split_host_port(":0");
    REQUIRE(hp);
    CHECK(hp->host.empty());
    CHECK(goro::net::split_host_port("example.com").error() == errc::missing_port);
    CHECK(goro::net::split_host_port("example.com:x").error() == errc::invalid_port);
    CHECK(goro::net::split_host_port("a:b:80").error() == errc::too_many_colons);
}

TEST_CASE("constructors agree with parse", "[net][address]") {
    CHECK(address::ipv4(0x7f000001, 80) == *address::parse("127.0.0.1:80"));
    CHECK(address::ipv4({127, 0, 0, 1}, 80) == *address::parse("127.0.0.1:80"));
    CHECK(address::ipv4({10, 1, 2, 3}, 9) == *address::parse("10.1.2.3:9"));
    CHECK(address::loopback_v4(80) == *address::parse("127.0.0.1:80"));
    CHECK(address::loopback_v6(80) == *address::parse("[::1]:80"));
    CHECK(address::any_v4(5) == *address::parse(":5"));
    CHECK(address::any_v6(5) == *address::parse("[::]:5"));
    CHECK(address::ipv6({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 443) ==
          *address::parse("[2001:db8::1]:443"));
    CHECK(address::ipv6({0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 80, 3) ==
          *address::parse("[fe80::1%3]:80"));
    CHECK(address::ipv4(0x7f000001, 80) != address::ipv4(0x7f000001, 81));
    CHECK(address::ipv4(0x7f000001, 80) != address::loopback_v6(80));
}

TEST_CASE("loopback detection", "[net][address]") {
    CHECK(address::parse("127.0.0.1:1")->is_loopback());
    CHECK(address::parse("127.255.0.9:1")->is_loopback());
    CHECK(address::parse("[::1]:1")->is_loopback());
    CHECK(address::parse("[::ffff:127.0.0.1]:1")->is_loopback());
    CHECK_FALSE(address::parse("128.0.0.1:1")->is_loopback());
    CHECK_FALSE(address::parse("[::2]:1")->is_loopback());
    CHECK_FALSE(address::parse(":1")->is_loopback());
    CHECK_FALSE(address::unix_path("/tmp/x")->is_loopback());
    CHECK_FALSE(address{}.is_loopback());
}

TEST_CASE("Unix socket paths", "[net][address]") {
    constexpr std::size_t path_size = sizeof(sockaddr_un::sun_path);  // 108 on Linux
    constexpr std::size_t offset = offsetof(sockaddr_un, sun_path);

    auto a = address::unix_path("/run/goro.sock");
    REQUIRE(a);
    CHECK(a->is_unix());
    CHECK(a->family() == AF_UNIX);
    CHECK(a->port() == 0);
    CHECK(a->to_string() == "/run/goro.sock");
    CHECK(a->size() == offset + 14 + 1);
    CHECK(std::strcmp(reinterpret_cast<const sockaddr_un*>(a->data())->sun_path, "/run/goro.sock") == 0);
    CHECK(*a == *address::unix_path("/run/goro.sock"));
    CHECK(*a != *address::unix_path("/run/goro.sock2"));

    const std::string longest(path_size - 1, 'p');
    REQUIRE(address::unix_path(longest));
    CHECK(address::unix_path(longest)->to_string() == longest);
    CHECK(address::unix_path(longest + "p").error() == errc::path_too_long);
    CHECK(address::unix_path(std::string(1000, 'p')).error() == errc::path_too_long);
    CHECK(address::unix_path("").error() == errc::invalid_path);
    CHECK(address::unix_path(std::string("a\0b", 3)).error() == errc::invalid_path);

    auto abstract = address::unix_path("@goro");
    REQUIRE(abstract);
    CHECK(abstract->size() == offset + 5);
    CHECK(reinterpret_cast<const sockaddr_un*>(abstract->data())->sun_path[0] == '\0');
    CHECK(abstract->to_string() == "@goro");
    CHECK(*abstract != *address::unix_path("goro"));
    const std::string longest_abstract = "@" + std::string(path_size - 1, 'a');
    REQUIRE(address::unix_path(longest_abstract));
    CHECK(address::unix_path(longest_abstract)->to_string() == longest_abstract);
    CHECK(address::unix_path(longest_abstract + "a").error() == errc::path_too_long);

    // What accept() reports for an unnamed peer: the family alone.
    sockaddr_un unnamed{};
    unnamed.sun_family = AF_UNIX;
    address peer = address::from_sockaddr(reinterpret_cast<const sockaddr*>(&unnamed), sizeof(sa_family_t));
    CHECK(peer.is_unix());
    CHECK(peer.to_string().empty());
    CHECK(peer != *a);

    // Pathnames compare by path whether or not the kernel counted the NUL.
    address without_nul = address::from_sockaddr(a->data(), a->size() - 1);
    CHECK(without_nul == *a);
    CHECK(without_nul.to_string() == "/run/goro.sock");
}

TEST_CASE("from_sockaddr, sizes and the empty address", "[net][address]") {
    address empty;
    CHECK(empty.family() == AF_UNSPEC);
    CHECK(empty.size() == 0);
    CHECK(empty.port() == 0);
    CHECK(empty.to_string() == "<nil>");
    CHECK(empty == address{});
    CHECK(empty != address::any_v4(0));
    CHECK(address::from_sockaddr(nullptr, 16) == empty);

    // Padding bytes (sin_zero) never take part in equality.
    sockaddr_in raw{};
    std::memset(&raw, 0xab, sizeof raw);
    raw.sin_family = AF_INET;
    raw.sin_port = htons(8080);
    raw.sin_addr.s_addr = htonl(0x7f000001);
    address from_raw = address::from_sockaddr(reinterpret_cast<const sockaddr*>(&raw), sizeof raw);
    CHECK(from_raw == address::loopback_v4(8080));
    CHECK(from_raw.to_string() == "127.0.0.1:8080");

    address v6 = *address::parse("[2001:db8::5]:7");
    CHECK(address::from_sockaddr(v6.data(), v6.size()) == v6);

    // Too long a length is cut to capacity().
    std::vector<unsigned char> big(address::capacity() + 64, 0);
    std::memcpy(big.data(), &raw, sizeof raw);
    address clipped = address::from_sockaddr(reinterpret_cast<const sockaddr*>(big.data()),
                                             static_cast<socklen_t>(big.size()));
    CHECK(clipped.size() == address::capacity());
    CHECK(clipped == address::loopback_v4(8080));

    // The accept()/recvfrom() pattern: fill data(), then set_size().
    address out;
    std::memcpy(out.data(), &raw, sizeof raw);
    out.set_size(sizeof raw);
    CHECK(out == address::loopback_v4(8080));
    out.set_size(address::capacity() + 1);
    CHECK(out.size() == address::capacity());
    CHECK(address::capacity() == sizeof(sockaddr_storage));

    out.set_port(9);
    CHECK(out.port() == 9);
    v6.set_port(65535);
    CHECK(v6.to_string() == "[2001:db8::5]:65535");
    address u = *address::unix_path("/x");
    u.set_port(5);
    CHECK(u.port() == 0);
}

TEST_CASE("goro.net error codes read like Go's", "[net][address]") {
    using goro::net::make_error_code;
    CHECK(std::string(goro::net::net_category().name()) == "goro.net");
    CHECK(make_error_code(errc::missing_port).message() == "missing port in address");
    CHECK(make_error_code(errc::too_many_colons).message() == "too many colons in address");
    CHECK(make_error_code(errc::missing_close_bracket).message() == "missing ']' in address");
    CHECK(make_error_code(errc::closed).message() == "use of closed network connection");
    CHECK(make_error_code(errc::timeout).message() == "i/o timeout");
    CHECK(make_error_code(errc::host_name_needs_resolve).message() ==
          "address is a host name; use goro::net::resolve");
    for (int code = static_cast<int>(errc::empty_address); code <= static_cast<int>(errc::timeout); ++code) {
        INFO(code);
        CHECK_FALSE(make_error_code(static_cast<errc>(code)).message().starts_with("unknown"));
    }
    CHECK(std::error_code(999, goro::net::net_category()).message() == "unknown goro.net error 999");

    // Implicit conversion through is_error_code_enum.
    std::error_code ec = errc::timeout;
    CHECK(ec == errc::timeout);
    CHECK(ec == std::errc::timed_out);  // through default_error_condition
    CHECK(ec != errc::closed);
    CHECK(std::error_code(errc::closed) != std::errc::timed_out);
}

namespace {

// Like goro::context_errc: 1 maps to timed_out, 2 to operation_canceled.
const std::error_category& timeout_like_category() {
    static const struct : std::error_category {
        const char* name() const noexcept override { return "test.timeout_like"; }
        std::string message(int) const override { return "test"; }
        std::error_condition default_error_condition(int code) const noexcept override {
            return code == 1 ? std::errc::timed_out : std::errc::operation_canceled;
        }
    } instance;
    return instance;
}

}  // namespace

TEST_CASE("is_timeout and is_closed", "[net][address]") {
    using goro::net::is_closed;
    using goro::net::is_timeout;
    CHECK(is_timeout(errc::timeout));
    CHECK(is_timeout(std::make_error_code(std::errc::timed_out)));
    CHECK(is_timeout(std::error_code(ETIMEDOUT, std::system_category())));
    CHECK(is_timeout(std::error_code(ETIME, std::system_category())));
    CHECK(is_timeout(std::error_code(ETIME, std::generic_category())));
    CHECK_FALSE(is_timeout(errc::closed));
    CHECK_FALSE(is_timeout(std::error_code(ECONNRESET, std::system_category())));
    CHECK_FALSE(is_timeout(std::error_code()));
    CHECK_FALSE(is_timeout(std::error_code(ETIMEDOUT, goro::net::net_category())));
    CHECK(is_timeout(std::error_code(1, timeout_like_category())));
    CHECK_FALSE(is_timeout(std::error_code(2, timeout_like_category())));
    CHECK_FALSE(is_closed(std::error_code(2, timeout_like_category())));  // canceled is not closed

    CHECK(is_closed(errc::closed));
    CHECK(is_closed(std::error_code(ECANCELED, std::system_category())));
    CHECK(is_closed(std::make_error_code(std::errc::operation_canceled)));
    CHECK_FALSE(is_closed(errc::timeout));
    CHECK_FALSE(is_closed(std::error_code(EPIPE, std::system_category())));
    CHECK_FALSE(is_closed(std::error_code()));
}
