// The "goro.net" error category. See net_error.hpp.
#include "net_error.hpp"

#include <cerrno>
#include <string>

namespace goro::net {
namespace {

class net_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "goro.net"; }

    std::string message(int code) const override {
        switch (static_cast<errc>(code)) {
        case errc::empty_address: return "missing address";
        case errc::missing_port: return "missing port in address";
        case errc::invalid_port: return "invalid port";
        case errc::invalid_ip: return "invalid IP address";
        case errc::host_name_needs_resolve: return "address is a host name; use goro::net::resolve";
        case errc::too_many_colons: return "too many colons in address";
        case errc::missing_brackets: return "IPv6 address must be in brackets, as in [::1]:80";
        case errc::missing_close_bracket: return "missing ']' in address";
        case errc::unexpected_bracket: return "unexpected '[' or ']' in address";
        case errc::invalid_zone: return "invalid IPv6 zone: not a number or an interface name";
        case errc::path_too_long: return "unix socket path too long";
        case errc::invalid_path: return "invalid unix socket path";
        case errc::closed: return "use of closed network connection";
        case errc::timeout: return "i/o timeout";
        case errc::no_such_host: return "no such host";
        }
        return "unknown goro.net error " + std::to_string(code);
    }

    std::error_condition default_error_condition(int code) const noexcept override {
        if (static_cast<errc>(code) == errc::timeout) return std::errc::timed_out;
        // getaddrinfo's EAI_NONAME, which goro reported as this errno before.
        if (static_cast<errc>(code) == errc::no_such_host) return std::errc::no_such_device_or_address;
        return {code, *this};
    }
};

// Both std categories compare their codes as errno values.
bool is_errno(std::error_code ec, int value) noexcept {
    return ec.value() == value &&
           (ec.category() == std::system_category() || ec.category() == std::generic_category());
}

}  // namespace

const std::error_category& net_category() noexcept {
    static const net_category_impl instance;
    return instance;
}

bool is_timeout(std::error_code ec) noexcept {
    // Comparing with the condition asks each code's own category: it covers
    // errc::timeout, ETIMEDOUT, and any other category that maps a code to
    // timed_out (goro::context_errc::deadline_exceeded does).
    return ec == std::errc::timed_out || is_errno(ec, ETIME);
}

bool is_closed(std::error_code ec) noexcept {
    return ec == errc::closed || is_errno(ec, ECANCELED);
}

}  // namespace goro::net
