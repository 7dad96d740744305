// Socket handles: ownership, close, deadlines, addresses, stream helpers.
#include "socket.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace goro::net {
namespace {
std::error_code last_error() noexcept { return {errno, std::system_category()}; }
}  // namespace

socket_handle::socket_handle(int fd) : m_state(std::make_shared<goro::detail::fd_state>(fd)) {}

int socket_handle::native_handle() const noexcept {
    if (!m_state) return -1;
    std::lock_guard guard(m_state->lock);
    return m_state->closed ? -1 : m_state->fd;
}

result<void> socket_handle::close() noexcept {
    if (!m_state) return make_error_code(errc::closed);
    return m_state->close();
}

void socket_handle::set_deadline(deadline_point t) noexcept {
    if (m_state) m_state->set_deadline(true, true, detail::deadline_ns(t));
}
void socket_handle::set_read_deadline(deadline_point t) noexcept {
    if (m_state) m_state->set_deadline(true, false, detail::deadline_ns(t));
}
void socket_handle::set_write_deadline(deadline_point t) noexcept {
    if (m_state) m_state->set_deadline(false, true, detail::deadline_ns(t));
}
void socket_handle::set_deadline(std::chrono::system_clock::time_point t) noexcept {
    if (m_state) m_state->set_deadline(true, true, detail::deadline_ns(t));
}
void socket_handle::set_read_deadline(std::chrono::system_clock::time_point t) noexcept {
    if (m_state) m_state->set_deadline(true, false, detail::deadline_ns(t));
}
void socket_handle::set_write_deadline(std::chrono::system_clock::time_point t) noexcept {
    if (m_state) m_state->set_deadline(false, true, detail::deadline_ns(t));
}

result<address> socket_handle::local_address() const {
    const int fd = native_handle();
    if (fd < 0) return make_error_code(errc::closed);
    address a;
    socklen_t len = address::capacity();
    if (::getsockname(fd, a.data(), &len) != 0) return last_error();
    a.set_size(len);
    return a;
}

result<address> stream_socket::peer_address() const {
    const int fd = native_handle();
    if (fd < 0) return make_error_code(errc::closed);
    address a;
    socklen_t len = address::capacity();
    if (::getpeername(fd, a.data(), &len) != 0) return last_error();
    a.set_size(len);
    return a;
}

result<void> stream_socket::shutdown(int how) const noexcept {
    const int fd = native_handle();
    if (fd < 0) return make_error_code(errc::closed);
    if (::shutdown(fd, how) != 0) return last_error();
    return {};
}

namespace {

// read_exact / write_all with and without a context: `ctx` is empty or one
// goro::context, held by value in this frame for every read or write.
template <typename... Ctx>
task<result<void>> read_exact_loop(const stream_socket* s, char* p, std::size_t size, Ctx... ctx) {
    std::size_t done = 0;
    while (done < size) {
        result<std::size_t> n = co_await s->read(p + done, size - done, ctx...);
        if (!n) co_return n.error();
        if (*n == 0) co_return make_error_code(done == 0 ? io_errc::eof : io_errc::unexpected_eof);
        done += *n;
    }
    co_return result<void>{};
}

template <typename... Ctx>
task<result<void>> write_all_loop(const stream_socket* s, const char* p, std::size_t size, Ctx... ctx) {
    std::size_t done = 0;
    while (done < size) {
        result<std::size_t> n = co_await s->write(p + done, size - done, ctx...);
        if (!n) co_return n.error();
        done += *n;
    }
    co_return result<void>{};
}

}  // namespace

task<result<void>> stream_socket::read_exact(void* data, std::size_t size) const {
    return read_exact_loop(this, static_cast<char*>(data), size);
}
task<result<void>> stream_socket::read_exact(void* data, std::size_t size, context ctx) const {
    return read_exact_loop(this, static_cast<char*>(data), size, std::move(ctx));
}
task<result<void>> stream_socket::write_all(const void* data, std::size_t size) const {
    return write_all_loop(this, static_cast<const char*>(data), size);
}
task<result<void>> stream_socket::write_all(const void* data, std::size_t size, context ctx) const {
    return write_all_loop(this, static_cast<const char*>(data), size, std::move(ctx));
}

namespace detail {

result<int> open_socket(int family, int type, int protocol) noexcept {
    const int fd = ::socket(family, type | SOCK_CLOEXEC, protocol);
    if (fd < 0) return last_error();
    return fd;
}

}  // namespace detail
}  // namespace goro::net
