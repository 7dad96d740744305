// idle_conns: hold 10,000 idle TCP connections, each with a task blocked in
// read(), and report the whole process's VmRSS in MB and its OS thread count
// (entries of /proc/self/task) once all of them are blocked and a 20 ms settle
// pause has passed. Then wake every reader with one byte and wait for all.
//
// The client ends live in a child process (plain blocking sockets, forked
// before goro starts) so that this process holds only the server ends: 10,000
// connections fit a 20,000-descriptor limit, and the figures are the server's.
// Twin: peers/go/idle_conns (its client is the same program re-executed).
// Prints: idle_10k_conns_rss <MB> MB
//         idle_10k_conns_threads <N> threads
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <filesystem>
#include <vector>

#include "bench_util.hpp"

using namespace std::chrono_literals;

namespace {

constexpr int k_conns = 10'000;

std::atomic<int> g_blocked{0};
std::atomic<int> g_woke{0};

// ---- the child: the client ends ----

bool read_byte(int fd, char& c) {
    for (;;) {
        const ssize_t r = ::read(fd, &c, 1);
        if (r == 1) return true;
        if (r == 0 || errno != EINTR) return false;
    }
}

// Connects k_conns sockets to 127.0.0.1:port, writes one byte on each when
// the parent says 'w', and exits when the parent closes the control pipe.
[[noreturn]] void client_process(int control) {
    std::uint16_t port = 0;
    if (::read(control, &port, sizeof port) != sizeof port) ::_exit(1);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::vector<int> fds;
    for (int i = 0; i < k_conns; ++i) {
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
            std::perror("idle_conns client: connect");
            ::_exit(1);
        }
        fds.push_back(fd);
    }
    char c;
    if (!read_byte(control, c)) ::_exit(1);
    for (int fd : fds)
        if (::write(fd, "!", 1) != 1) ::_exit(1);
    while (read_byte(control, c)) {
    }
    ::_exit(0);
}

// ---- the parent: goro holds the server ends ----

std::size_t thread_count() {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/task")) ++n;
    return n;
}

goro::task<> reader(goro::net::tcp_stream s) {
    g_blocked.fetch_add(1, std::memory_order_relaxed);
    char c;
    auto r = co_await s.read(&c, 1);
    if (!r || *r != 1) bench::fail("idle_conns: a reader got no byte");
    g_woke.fetch_add(1, std::memory_order_relaxed);
}

goro::task<int> bench_main(int control) {
    auto l = goro::net::tcp_listener::listen("127.0.0.1:0").value();
    const std::uint16_t port = l.local_address().value().port();
    if (::write(control, &port, sizeof port) != sizeof port) bench::fail("idle_conns: control pipe");
    for (int i = 0; i < k_conns; ++i) {
        auto s = co_await l.accept();
        if (!s) bench::fail(fmt::format("idle_conns: accept: {}", s.error().message()));
        goro::go(reader(std::move(*s)));
    }
    while (g_blocked.load() < k_conns) co_await goro::sleep(1ms);
    co_await goro::sleep(20ms);  // let the last reads reach the ring and park
    const double mb = bench::rss_mb();
    const std::size_t threads = thread_count();
    if (::write(control, "w", 1) != 1) bench::fail("idle_conns: control pipe");
    while (g_woke.load() < k_conns) co_await goro::sleep(1ms);
    bench::figure("idle_10k_conns_rss", mb, "MB");
    bench::figure("idle_10k_conns_threads", static_cast<double>(threads), "threads");
    co_return 0;
}

}  // namespace

int main() {
    // Each side needs k_conns descriptors and a few more.
    rlimit lim{};
    ::getrlimit(RLIMIT_NOFILE, &lim);
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
    if (lim.rlim_cur < k_conns + 100) bench::fail(fmt::format("idle_conns: RLIMIT_NOFILE {} is too low", lim.rlim_cur));

    int control[2];
    if (::pipe2(control, O_CLOEXEC) != 0) bench::fail("idle_conns: pipe");
    const pid_t child = ::fork();
    if (child < 0) bench::fail("idle_conns: fork");
    if (child == 0) {
        ::close(control[1]);
        client_process(control[0]);
    }
    ::close(control[0]);
    const int rc = goro::run(bench_main(control[1]));
    ::close(control[1]);  // the child exits on EOF
    int status = 0;
    ::waitpid(child, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) bench::fail("idle_conns: the client process failed");
    return rc;
}
