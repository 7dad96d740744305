// Unix-domain stream sockets.
#include "unix.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>

namespace goro::net {
namespace {
std::error_code last_error() noexcept { return {errno, std::system_category()}; }
}  // namespace

task<result<unix_stream>> unix_stream::connect(std::string path) { return connect(std::move(path), context{}); }

task<result<unix_stream>> unix_stream::connect(address addr) { return connect(std::move(addr), context{}); }

task<result<unix_stream>> unix_stream::connect(std::string path, context ctx) {
    result<address> a = address::unix_path(path);
    if (!a) co_return a.error();
    co_return co_await connect(*a, std::move(ctx));
}

task<result<unix_stream>> unix_stream::connect(address addr, context ctx) {
    if (addr.family() != AF_UNIX) co_return std::make_error_code(std::errc::address_family_not_supported);
    if (const std::error_code e = ctx.err()) co_return e;  // done already: not even a socket
    result<int> fd = detail::open_socket(AF_UNIX, SOCK_STREAM);
    if (!fd) co_return fd.error();
    unix_stream s(*fd);
    result<std::size_t> r = co_await goro::detail::ctx_io<detail::connect_io>(ctx, s.state(), addr, 0);
    if (!r) {
        (void)s.close();
        co_return r.error();
    }
    co_return s;
}

result<std::pair<unix_stream, unix_stream>> unix_stream::pair() {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) return last_error();
    return std::pair<unix_stream, unix_stream>{unix_stream(fds[0]), unix_stream(fds[1])};
}

result<unix_listener> unix_listener::listen(std::string_view path, int backlog) {
    result<address> a = address::unix_path(path);
    if (!a) return a.error();
    result<int> fd = detail::open_socket(AF_UNIX, SOCK_STREAM);
    if (!fd) return fd.error();
    unix_listener l(*fd);
    if (::bind(*fd, a->data(), a->size()) != 0) return last_error();
    if (::listen(*fd, backlog) != 0) return last_error();
    if (!path.empty() && path.front() != '@') l.m_path = std::make_shared<std::string>(path);
    return l;
}

result<void> unix_listener::close() noexcept {
    result<void> r = socket_handle::close();
    if (r && m_path) ::unlink(m_path->c_str());
    return r;
}

}  // namespace goro::net
