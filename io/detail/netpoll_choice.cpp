// Which netpoller a runtime uses (runtime/detail/netpoll.hpp): io_uring where
// it can be set up and used, epoll elsewhere, unless the program or its
// environment says which.
#include <liburing.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "../../runtime/detail/netpoll.hpp"
#include "../../runtime/error.hpp"
#include "epoll_driver.hpp"
#include "poller.hpp"

namespace goro::detail {
namespace {

constexpr const char* k_uring = "io_uring";
constexpr const char* k_epoll = "epoll";

// Can this process use io_uring: set up a ring and get through
// io_uring_enter (a seccomp profile may block either; a kernel may have it
// disabled)? Asked at each run(): a filter installed since, or a forked
// child under a new one, gets a fresh answer. About 30 µs.
bool io_uring_usable() noexcept {
    io_uring ring{};
    if (io_uring_queue_init(2, &ring, 0) != 0) return false;
    bool ok = false;
    if (io_uring_sqe* sqe = io_uring_get_sqe(&ring)) {
        io_uring_prep_nop(sqe);
        io_uring_cqe* cqe = nullptr;
        if (io_uring_submit_and_wait(&ring, 1) == 1 && io_uring_peek_cqe(&ring, &cqe) == 0) ok = true;
    }
    io_uring_queue_exit(&ring);
    return ok;
}

const char* parse(std::string_view name, const char* origin) {
    if (name == "io_uring" || name == "uring") return k_uring;
    if (name == "epoll") return k_epoll;
    throw bad_configuration(std::string(origin) + ": unknown netpoller '" + std::string(name) +
                            "' (use io_uring or epoll)");
}

}  // namespace

const char* choose_netpoll(const char* requested) {
    if (requested && *requested) return parse(requested, "goro::options::netpoll");
    if (const char* env = std::getenv("GORO_NETPOLL"); env && *env && std::string_view(env) != "auto")
        return parse(env, "GORO_NETPOLL");
    return io_uring_usable() ? k_uring : k_epoll;
}

std::unique_ptr<netpoll_driver> make_netpoll(const char* kind) {
    if (std::strcmp(kind, k_epoll) == 0) return std::make_unique<epoll_driver>();
    return std::make_unique<poller>(256);
}

}  // namespace goro::detail
