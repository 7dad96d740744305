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

// Valgrind's client-request header, where it is installed: it tells a
// process whether it runs under valgrind (a few no-op instructions
// otherwise).
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define GORO_RUNNING_ON_VALGRIND() (RUNNING_ON_VALGRIND != 0)
#else
#define GORO_RUNNING_ON_VALGRIND() false
#endif

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
    // Under valgrind (3.19, Debian 12's, at least), a thread blocked in
    // io_uring_enter keeps valgrind's lock, which every other thread
    // needs to run: the first processor to park in the kernel stops the
    // whole program. A thread blocked in epoll_wait lets go of it.
    if (GORO_RUNNING_ON_VALGRIND()) return k_epoll;
    return io_uring_usable() ? k_uring : k_epoll;
}

std::unique_ptr<netpoll_driver> make_netpoll(const char* kind) {
    if (std::strcmp(kind, k_epoll) == 0) return std::make_unique<epoll_driver>();
    return std::make_unique<poller>(256);
}

}  // namespace goro::detail
