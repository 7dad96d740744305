// Where io_uring is blocked the netpoller falls back to epoll, and where
// io_uring is forced (GORO_NETPOLL=io_uring, options::netpoll) its errors
// reach the user cleanly: with io_uring_setup or io_uring_enter blocked by a
// seccomp filter, a goro program serves on epoll when left to choose, and
// otherwise ends by itself with one clear message naming the call and exit
// status 2 — never an abort, never a silent busy loop.
//
// Each case runs in a forked child (support/child_process.hpp) that installs
// the filter (libseccomp: SCMP_ACT_ERRNO(EPERM), as a container runtime's
// profile does; libseccomp sets no_new_privs first) and then runs goro the way
// a user does: goro::run in a main that catches nothing, or the echo_server
// sample itself (exec'd, so the filter carries over). The child's limit is a
// hang guard only: a child still running then hung or spun, which fails.
//
// Skips loudly (WARN) when built without libseccomp, when this sandbox cannot
// install a seccomp filter, when io_uring is unavailable even without one, or
// (for the sample cases) when the samples are not built (-Dsamples=false).
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#if GORO_HAVE_LIBSECCOMP
#include <seccomp.h>
#endif

#include <goro/goro.hpp>
#include "support/child_process.hpp"

using namespace std::chrono_literals;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using goro::task;

namespace {

// The child's exit statuses that mean "cannot test this here".
constexpr int k_no_seccomp = 77;  // the filter could not be installed
constexpr int k_no_uring = 78;    // io_uring is unavailable even without the filter
constexpr int k_no_exec = 79;     // the sample could not be started

// Hang guard: generous; a child that runs this long hung or spun.
constexpr auto k_hang_guard = std::chrono::seconds(60);

// Installs, in the calling process, a seccomp filter that fails the system
// call `syscall_name` with `err` and allows everything else. On failure says
// which call failed and why on stderr and returns false.
bool block_syscall(const char* syscall_name, [[maybe_unused]] int err = EPERM) {
#if GORO_HAVE_LIBSECCOMP
    const int nr = seccomp_syscall_resolve_name(syscall_name);
    if (nr == __NR_SCMP_ERROR) {
        std::fprintf(stderr, "seccomp_syscall_resolve_name(%s): unknown to this libseccomp\n", syscall_name);
        return false;
    }
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (ctx == nullptr) {
        std::fprintf(stderr, "seccomp_init failed\n");
        return false;
    }
    int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(static_cast<std::uint16_t>(err)), nr, 0);
    if (rc != 0) {
        std::fprintf(stderr, "seccomp_rule_add(%s): %s\n", syscall_name, std::strerror(-rc));
    } else {
        // Sets no_new_privs first (libseccomp's default SCMP_FLTATR_CTL_NNP).
        rc = seccomp_load(ctx);
        if (rc != 0) std::fprintf(stderr, "seccomp_load: %s\n", std::strerror(-rc));
    }
    seccomp_release(ctx);
    return rc == 0;
#else
    std::fprintf(stderr, "built without libseccomp (Debian: libseccomp-dev)\n");
    (void)syscall_name;
    return false;
#endif
}

// True (after a WARN) when the child could not test anything here.
bool skipped(const goro_test::child_result& r) {
    if (r.timed_out) return false;
    if (r.exit_status == k_no_seccomp) {
        WARN("SKIPPED: cannot install a seccomp filter here: " << r.stderr_text);
        return true;
    }
    if (r.exit_status == k_no_uring) {
        WARN("SKIPPED: io_uring unavailable here even without a filter: " << r.stderr_text);
        return true;
    }
    if (r.exit_status == k_no_exec) {
        WARN("SKIPPED: cannot start the sample: " << r.stderr_text);
        return true;
    }
    return false;
}

// Probes io_uring in a child without any filter, so that "io_uring is
// missing here anyway" is a loud skip rather than a false pass or failure.
bool io_uring_usable() {
    static const bool usable = [] {
        auto r = goro_test::run_in_child([] {
            try {
                goro::run([]() -> task<int> { co_return 0; }(), {.procs = 1, .netpoll = goro::netpoll_kind::io_uring});
            } catch (const goro::startup_error& e) {
                std::fprintf(stderr, "%s\n", e.what());
                return k_no_uring;
            }
            return 0;
        }, k_hang_guard);
        if (r.exit_status != 0)
            WARN("SKIPPED: io_uring unavailable here (probe exit " << r.exit_status << "): " << r.stderr_text);
        return r.exit_status == 0;
    }();
    return usable;
}

// A user's main: goro::run with nothing around it to catch what it throws
// (an exception escaping the noexcept lambda ends the process as one leaving
// main() would: through std::terminate).
// `netpoll` as the program would set it (automatic: GORO_NETPOLL decides).
template <typename T>
void run_as_main(task<T> main, goro::netpoll_kind netpoll = goro::netpoll_kind::io_uring) {
    [&]() noexcept { goro::run(std::move(main), {.procs = 2, .netpoll = netpoll}); }();
}

// The environment a forced-io_uring child runs under (for the exec'd sample).
void force_io_uring() { ::setenv("GORO_NETPOLL", "io_uring", 1); }

// Replaces the (forked) child with the echo_server sample listening on an
// ephemeral loopback port; its stdout goes to the captured stderr too.
// Returns only if the exec failed.
int exec_echo_server([[maybe_unused]] const char* path) {
#ifdef GORO_ECHO_SERVER
    ::dup2(STDERR_FILENO, STDOUT_FILENO);
    char arg0[] = "echo_server";
    char arg1[] = "127.0.0.1:0";
    char* argv[] = {arg0, arg1, nullptr};
    ::execv(path, argv);
    std::fprintf(stderr, "execv(%s): %s\n", path, std::strerror(errno));
#else
    std::fprintf(stderr, "the samples are not built (-Dsamples=false)\n");
#endif
    return k_no_exec;
}

const char* echo_server_path() {
#ifdef GORO_ECHO_SERVER
    return GORO_ECHO_SERVER;
#else
    return "";
#endif
}

// What a start-up failure must look like: exactly one line, "goro: ...",
// naming io_uring and why, exit status 2, no abort and no "terminate called".
void expect_startup_refusal(const goro_test::child_result& r) {
    INFO(r.stderr_text);
    REQUIRE_FALSE(r.timed_out);
    REQUIRE(r.exit_status == 2);
    REQUIRE_THAT(r.stderr_text, StartsWith("goro: "));
    REQUIRE_THAT(r.stderr_text, Contains("io_uring_setup failed: Operation not permitted"));
    REQUIRE_THAT(r.stderr_text, !Contains("terminate called"));
    REQUIRE(r.stderr_text.back() == '\n');
    REQUIRE(r.stderr_text.find('\n') == r.stderr_text.size() - 1);  // one line
}

// What a failing io_uring_enter must look like: the process ended by itself
// (not killed by the hang guard: no busy loop) with exit status 2 and the
// fatal error naming the call and the errno.
void expect_enter_fatal(const goro_test::child_result& r,
                        const std::string& errno_text = "): Operation not permitted (EPERM)\n") {
    INFO(r.stderr_text);
    REQUIRE_FALSE(r.timed_out);
    REQUIRE(r.exit_status == 2);
    REQUIRE_THAT(r.stderr_text, Contains("fatal error: goro: io_uring_enter ("));
    REQUIRE_THAT(r.stderr_text, Contains(errno_text));
    REQUIRE_THAT(r.stderr_text, !Contains("terminate called"));
}

task<int> trivial_main() { co_return 0; }

// Listens on loopback and waits for a connection that never comes: the
// accept goes through the ring, whose processor then parks in io_uring_enter.
task<int> accept_main() {
    auto listener = goro::net::tcp_listener::listen("127.0.0.1:0");
    if (!listener) {
        std::fprintf(stderr, "listen 127.0.0.1:0: %s\n", listener.error().message().c_str());
        co_return 3;
    }
    auto conn = co_await listener->accept();
    co_return conn ? 4 : 5;  // nobody connects: never reached when the ring works or fails cleanly
}

// Sleeps: the processor parks on its ring with a timeout.
task<int> sleep_main() {
    co_await goro::sleep(20ms);
    co_return 6;  // reached only if the runtime ran on without its ring
}

}  // namespace

// A program doing network I/O in the way a user does, that checks which
// driver serves it: a loopback echo of one line.
task<int> loopback_echo_main() {
    if (std::string_view(goro::netpoller()) != "epoll") co_return 8;
    auto listener = goro::net::tcp_listener::listen("127.0.0.1:0");
    if (!listener) co_return 3;
    auto conn = co_await goro::net::tcp_stream::connect(listener->local_address()->to_string());
    if (!conn) co_return 4;
    auto peer = co_await listener->accept();
    if (!peer) co_return 5;
    auto sent = co_await conn->write_all("ping");
    if (!sent) co_return 6;
    char buf[4];
    auto got = co_await peer->read_exact(buf, sizeof buf);
    co_return got && std::string_view(buf, 4) == "ping" ? 0 : 7;
}

// With `syscall_name` blocked and the driver left to choose, a program
// serves on epoll (loopback_echo_main checks the driver and the echo).
void expect_serves_on_epoll(const char* syscall_name) {
    auto r = goro_test::run_in_child([syscall_name] {
        if (!block_syscall(syscall_name)) return k_no_seccomp;
        ::unsetenv("GORO_NETPOLL");
        return goro::run(loopback_echo_main(), {.procs = 2});
    }, k_hang_guard);
    if (skipped(r)) return;
    INFO(r.stderr_text);
    REQUIRE_FALSE(r.timed_out);
    REQUIRE(r.exit_status == 0);
}

TEST_CASE("io_uring_setup blocked: goro::run falls back to epoll and serves", "[net]") {
    expect_serves_on_epoll("io_uring_setup");
}

TEST_CASE("io_uring_setup blocked, io_uring forced: goro::run stops at start-up with one message line and exit 2", "[net]") {
    auto r = goro_test::run_in_child([] {
        if (!block_syscall("io_uring_setup")) return k_no_seccomp;
        run_as_main(trivial_main());
        return 0;  // ran without io_uring_setup?
    }, k_hang_guard);
    if (skipped(r)) return;
    expect_startup_refusal(r);
}

TEST_CASE("io_uring_setup blocked, io_uring forced by GORO_NETPOLL: the echo_server sample stops at start-up with one message line and exit 2",
          "[net]") {
    auto r = goro_test::run_in_child([] {
        if (!block_syscall("io_uring_setup")) return k_no_seccomp;
        force_io_uring();
        return exec_echo_server(echo_server_path());
    }, k_hang_guard);
    if (skipped(r)) return;
    expect_startup_refusal(r);
}

// The ask: under a container-like profile that blocks io_uring, the
// sample serves (on epoll). The sample runs exec'd under the filter, its
// stdout on a pipe; this process reads "listening <addr>", connects, and
// checks that a line comes back.
TEST_CASE("io_uring_setup blocked: the echo_server sample serves on epoll", "[net]") {
#ifndef GORO_ECHO_SERVER
    WARN("SKIPPED: the samples are not built (-Dsamples=false)");
#else
#if !GORO_HAVE_LIBSECCOMP
    WARN("SKIPPED: built without libseccomp (Debian: libseccomp-dev)");
#else
    int out[2];
    REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::dup2(out[1], STDOUT_FILENO);
        ::unsetenv("GORO_NETPOLL");
        if (!block_syscall("io_uring_setup")) ::_exit(k_no_seccomp);
        char arg0[] = "echo_server";
        char arg1[] = "127.0.0.1:0";
        char* argv[] = {arg0, arg1, nullptr};
        ::execv(GORO_ECHO_SERVER, argv);
        ::_exit(k_no_exec);
    }
    ::close(out[1]);
    // The first line: "listening 127.0.0.1:<port>" (a hang guard bounds the wait).
    std::string line;
    const auto give_up = std::chrono::steady_clock::now() + k_hang_guard;
    while (line.find('\n') == std::string::npos && std::chrono::steady_clock::now() < give_up) {
        pollfd p{out[0], POLLIN, 0};
        if (::poll(&p, 1, 1000) <= 0) continue;
        char c[256];
        const ssize_t n = ::read(out[0], c, sizeof c);
        if (n <= 0) break;
        line.append(c, static_cast<std::size_t>(n));
    }
    INFO("sample output: " << line);
    int status = 0;
    if (line.rfind("listening 127.0.0.1:", 0) != 0) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        ::close(out[0]);
        if (WIFEXITED(status) && (WEXITSTATUS(status) == k_no_seccomp || WEXITSTATUS(status) == k_no_exec)) {
            WARN("SKIPPED: cannot install the filter or start the sample here");
            return;
        }
        FAIL("the sample did not start listening under the filter");
    }
    const int port = std::stoi(line.substr(std::string("listening 127.0.0.1:").size()));
    const int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{};
    tv.tv_sec = 60;  // hang guard
    ::setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    const bool connected = ::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    const bool sent = connected && ::send(s, "hello\n", 6, MSG_NOSIGNAL) == 6;
    std::string echoed;
    while (sent && echoed.size() < 6) {
        char c[16];
        const ssize_t n = ::recv(s, c, sizeof c, 0);
        if (n <= 0) break;
        echoed.append(c, static_cast<std::size_t>(n));
    }
    ::close(s);
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    ::close(out[0]);
    REQUIRE(connected);
    REQUIRE(sent);
    REQUIRE(echoed == "hello\n");
#endif
#endif
}

TEST_CASE("io_uring_enter blocked: goro::run falls back to epoll and serves", "[net]") {
    if (!io_uring_usable()) return;
    expect_serves_on_epoll("io_uring_enter");
}

TEST_CASE("io_uring_enter blocked, io_uring forced: a program doing I/O stops with a fatal error naming the call, exit 2", "[net]") {
    if (!io_uring_usable()) return;
    SECTION("accept on loopback") {
        auto r = goro_test::run_in_child([] {
            if (!block_syscall("io_uring_enter")) return k_no_seccomp;
            run_as_main(accept_main());
            return 0;
        }, k_hang_guard);
        if (skipped(r)) return;
        expect_enter_fatal(r);
    }
    SECTION("a sleep (the processor parks on its ring)") {
        auto r = goro_test::run_in_child([] {
            if (!block_syscall("io_uring_enter")) return k_no_seccomp;
            run_as_main(sleep_main());
            return 0;
        }, k_hang_guard);
        if (skipped(r)) return;
        expect_enter_fatal(r);
    }
}

// The report: under this filter echo_server printed "listening" and
// then spun on failed io_uring_enter calls, silently, never accepting.
TEST_CASE("io_uring_enter blocked, io_uring forced by GORO_NETPOLL: the echo_server sample stops with a fatal error naming the call, exit 2", "[net]") {
    if (!io_uring_usable()) return;
    auto r = goro_test::run_in_child([] {
        if (!block_syscall("io_uring_enter")) return k_no_seccomp;
        force_io_uring();
        return exec_echo_server(echo_server_path());
    }, k_hang_guard);
    if (skipped(r)) return;
    expect_enter_fatal(r);
}

// EAGAIN is retried (the kernel asks for room), but not forever: a kernel
// that refuses every submission ends the program with the fatal error after
// a bounded number of retries rather than spinning or hanging.
TEST_CASE("io_uring_enter failing with EAGAIN for good: bounded retries, then the fatal error, exit 2", "[net]") {
    if (!io_uring_usable()) return;
    auto r = goro_test::run_in_child([] {
        if (!block_syscall("io_uring_enter", EAGAIN)) return k_no_seccomp;
        run_as_main(accept_main());
        return 0;
    }, k_hang_guard);
    if (skipped(r)) return;
    expect_enter_fatal(r, "): Resource temporarily unavailable (EAGAIN); still no room after 1000 retries\n");
}
