// TCP listeners and streams.
#include "tcp.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "../runtime/go.hpp"
#include "../runtime/sleep.hpp"
#include "detail/listen_address.hpp"
#include "net.hpp"

namespace goro::net {
namespace {
std::error_code last_error() noexcept { return {errno, std::system_category()}; }

void nodelay(int fd) noexcept {
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}
}  // namespace

result<void> tcp_stream::set_nodelay(bool on) const noexcept {
    const int fd = native_handle();
    if (fd < 0) return make_error_code(errc::closed);
    const int v = on ? 1 : 0;
    if (::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, sizeof v) != 0) return last_error();
    return {};
}

task<result<tcp_stream>> tcp_stream::connect(address addr, std::chrono::nanoseconds timeout) {
    return dial(std::move(addr), timeout, context{});
}

task<result<tcp_stream>> tcp_stream::connect(std::string_view host_port, std::chrono::nanoseconds timeout) {
    return dial(host_port, timeout, context{});
}

task<result<tcp_stream>> tcp_stream::dial(address addr, std::chrono::nanoseconds timeout, context ctx) {
    if (addr.family() != AF_INET && addr.family() != AF_INET6)
        co_return std::make_error_code(std::errc::address_family_not_supported);
    if (const std::error_code e = ctx.err()) co_return e;  // done already: not even a socket
    const std::int64_t deadline =
        timeout == std::chrono::nanoseconds::max() ? 0 : detail::timeout_ns(timeout);
    result<int> fd = detail::open_socket(addr.family(), SOCK_STREAM);
    if (!fd) co_return fd.error();
    tcp_stream s(*fd);
    nodelay(*fd);
    result<std::size_t> r = co_await goro::detail::ctx_io<detail::connect_io>(ctx, s.state(), addr, deadline);
    if (!r) {
        (void)s.close();
        co_return r.error();
    }
    co_return s;
}

task<result<tcp_stream>> tcp_stream::dial(std::string_view host_port, std::chrono::nanoseconds timeout,
                                          context ctx) {
    result<address> a = address::parse(host_port);
    if (a) co_return co_await dial(*a, timeout, ctx);
    if (a.error() != errc::host_name_needs_resolve) co_return a.error();
    const std::int64_t deadline =
        timeout == std::chrono::nanoseconds::max() ? 0 : detail::timeout_ns(timeout);
    result<std::vector<address>> all = std::make_error_code(std::errc::host_unreachable);
    if (timeout == std::chrono::nanoseconds::max()) {
        all = co_await resolve(host_port, ctx);
    } else {
        // The lookup counts against the timeout too; running out of it there
        // is the same timeout error as in a connect.
        auto [lookup_ctx, cancel] = with_timeout(ctx, timeout);
        all = co_await resolve(host_port, lookup_ctx);
        cancel();
        if (!all && all.error() == context_errc::deadline_exceeded && !ctx.err())
            co_return make_error_code(errc::timeout);
    }
    if (!all) co_return all.error();
    std::error_code last = std::make_error_code(std::errc::host_unreachable);
    for (const address& candidate : *all) {
        std::chrono::nanoseconds left = std::chrono::nanoseconds::max();
        if (deadline != 0)
            left = std::chrono::nanoseconds(
                deadline - std::chrono::duration_cast<std::chrono::nanoseconds>(
                               deadline_clock::now().time_since_epoch()).count());
        result<tcp_stream> s = co_await dial(candidate, left, ctx);
        if (s) co_return s;
        last = s.error();
        if (is_timeout(last) || ctx.err()) break;  // out of time, or cancelled: stop trying
    }
    co_return last;
}

namespace {

result<tcp_listener> listen_on(const address& addr, listen_options opts, bool dual_stack) {
    if (addr.family() != AF_INET && addr.family() != AF_INET6)
        return std::make_error_code(std::errc::address_family_not_supported);
    result<int> fd = detail::open_socket(addr.family(), SOCK_STREAM);
    if (!fd) return fd.error();
    tcp_listener l(*fd);
    const int zero = 0;
    if (dual_stack && ::setsockopt(*fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero) != 0) return last_error();
    const int one = 1;
    if (::setsockopt(*fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) return last_error();
    if (opts.reuse_port && ::setsockopt(*fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
        return last_error();
    if (::bind(*fd, addr.data(), addr.size()) != 0) return last_error();
    if (::listen(*fd, opts.backlog) != 0) return last_error();
    return l;
}

}  // namespace

result<tcp_listener> tcp_listener::listen(const address& addr, listen_options opts) {
    return listen_on(addr, opts, false);
}

result<tcp_listener> tcp_listener::listen(std::string_view host_port, listen_options opts) {
    result<detail::listen_address> where = detail::listen_address_for(host_port, SOCK_STREAM);
    if (!where) return where.error();
    result<tcp_listener> l = listen_on(where->addr, opts, where->dual_stack);
    // ":port" on a kernel without IPv6: IPv4 only.
    if (!l && where->dual_stack && l.error() == std::errc::address_family_not_supported)
        return listen_on(address::any_v4(where->addr.port()), opts, false);
    return l;
}

task<result<void>> serve(tcp_listener listener, std::function<task<void>(tcp_stream)> handler) {
    using namespace std::chrono_literals;
    std::chrono::milliseconds backoff{0};
    for (;;) {
        result<tcp_stream> c = co_await listener.accept();
        if (c) {
            backoff = 0ms;
            nodelay(c->native_handle());
            go(handler(std::move(*c)));
            continue;
        }
        const std::error_code ec = c.error();
        if (ec == errc::closed) co_return result<void>{};
        if (ec == std::errc::too_many_files_open || ec == std::errc::too_many_files_open_in_system ||
            ec == std::errc::no_buffer_space || ec == std::errc::not_enough_memory) {
            // Out of descriptors or memory: back off and keep serving (Go's
            // net/http does the same), so the process recovers once
            // connections close.
            backoff = backoff == 0ms ? 5ms : std::min<std::chrono::milliseconds>(backoff * 2, 1s);
            co_await sleep(backoff);
            continue;
        }
        if (ec == std::errc::connection_aborted || ec == std::errc::interrupted) continue;
        co_return ec;
    }
}

}  // namespace goro::net
