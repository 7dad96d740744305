// goro::net::errc — goro's own network error codes, and two predicates.
//
// Operating-system failures (ECONNRESET, ECONNREFUSED, EMFILE, ...) travel as
// std::error_code in std::system_category(), unchanged. The codes here are
// the outcomes the OS has no number for: a malformed address string, and the
// two conditions a Go programmer tests for most, "use of closed network
// connection" and "i/o timeout". Messages use Go's wording where Go has one,
// so a log line reads the same in both languages.
//
//     goro::result<address> a = address::parse("localhost:80");
//     if (a.error() == goro::net::errc::host_name_needs_resolve) ...
//
// The I/O layer turns a negative cqe->res into an error_code in one place;
// that place should map the -ECANCELED of an operation cancelled by close()
// to errc::closed and the one cancelled by a deadline to errc::timeout.
// is_timeout() and is_closed() also accept the raw errno values, so a caller
// gets the right answer whichever path produced the code.
#pragma once

#include <system_error>
#include <type_traits>

namespace goro::net {

/// goro's network error codes (category "goro.net"). Zero means success and
/// is never used. New codes go at the end: the numbers are part of the ABI.
enum class errc : int {
    empty_address = 1,        ///< "missing address"
    missing_port,             ///< "missing port in address" (Go's wording)
    invalid_port,             ///< "invalid port": not 0-65535 digits
    invalid_ip,               ///< "invalid IP address"
    host_name_needs_resolve,  ///< a host name where a numeric IP was required
    too_many_colons,          ///< "too many colons in address" (Go's wording)
    missing_brackets,         ///< an IPv6 literal with a port but without [ ]
    missing_close_bracket,    ///< "missing ']' in address" (Go's wording)
    unexpected_bracket,       ///< a '[' or ']' where none may be
    invalid_zone,             ///< an IPv6 zone that is neither a number nor an interface
    path_too_long,            ///< a Unix socket path that does not fit sun_path
    invalid_path,             ///< an empty Unix socket path or one holding a NUL byte
    closed,                   ///< "use of closed network connection" (Go's wording)
    timeout,                  ///< "i/o timeout" (Go's wording): a deadline passed
    no_such_host,             ///< "no such host" (Go's wording): a name that resolves to nothing;
                              ///< equivalent to std::errc::no_such_device_or_address
};

/// The "goro.net" category. One instance per process (defined in net_error.cpp).
/// Its default_error_condition maps errc::timeout to std::errc::timed_out, so
/// `ec == std::errc::timed_out` holds for goro's timeout too.
[[nodiscard]] const std::error_category& net_category() noexcept;

[[nodiscard]] inline std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), net_category()};
}

/// True for errc::timeout, for the OS codes a timed-out operation carries,
/// ETIMEDOUT and ETIME (an io_uring timeout expiring), and for any code whose
/// category maps it to std::errc::timed_out, such as a context's
/// deadline_exceeded: what Go's `err.(net.Error).Timeout()` answers.
[[nodiscard]] bool is_timeout(std::error_code ec) noexcept;

/// True for errc::closed and for ECANCELED (std::errc::operation_canceled),
/// which an io_uring operation returns when close() cancels it. A deadline
/// also cancels with ECANCELED: the I/O layer must map that case to
/// errc::timeout before it reaches the user, or it reads as "closed" here.
[[nodiscard]] bool is_closed(std::error_code ec) noexcept;

}  // namespace goro::net

template <>
struct std::is_error_code_enum<goro::net::errc> : std::true_type {};
