// The server samples stop cleanly on SIGTERM and SIGINT (README, "Signals
// and graceful shutdown"): each is started as a program, listening on an
// ephemeral loopback port; the test reads its "listening <addr>" line,
// talks to it over a connection it then leaves open and idle, sends the
// signal, and expects exit status 0 and the connection closed by the server.
//
// The sample paths come from meson (GORO_SAMPLE_DIR); with -Dsamples=false
// the cases skip loudly. Time limits are hang guards only.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

constexpr auto k_hang_guard = 30s;

int ms_left(std::chrono::steady_clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

// A sample running as a child process, its stdout on a pipe.
struct sample_process {
    pid_t pid = -1;
    int out = -1;  // the read end of its stdout
    std::string buffered;

    sample_process(const std::string& path, std::vector<std::string> args, const char* env = nullptr) {
        int fds[2];
        REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
        pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            ::dup2(fds[1], STDOUT_FILENO);
            if (env) ::putenv(const_cast<char*>(env));
            std::vector<char*> argv;
            argv.push_back(const_cast<char*>(path.c_str()));
            for (auto& a : args) argv.push_back(a.data());
            argv.push_back(nullptr);
            ::execv(path.c_str(), argv.data());
            std::_Exit(127);
        }
        ::close(fds[1]);
        out = fds[0];
    }
    ~sample_process() {
        if (pid > 0) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
        }
        if (out >= 0) ::close(out);
    }

    // The next line of its stdout ("" at EOF or after the hang guard).
    std::string line() {
        const auto deadline = std::chrono::steady_clock::now() + k_hang_guard;
        for (;;) {
            if (auto eol = buffered.find('\n'); eol != std::string::npos) {
                std::string l = buffered.substr(0, eol);
                buffered.erase(0, eol + 1);
                return l;
            }
            pollfd p{out, POLLIN, 0};
            if (::poll(&p, 1, ms_left(deadline)) <= 0) return "";
            char buf[512];
            const ssize_t n = ::read(out, buf, sizeof buf);
            if (n <= 0) return "";
            buffered.append(buf, static_cast<std::size_t>(n));
        }
    }

    // The port of its "listening <addr>" line (0 if none came).
    int listening_port() {
        for (int i = 0; i < 5; ++i) {
            const std::string l = line();
            if (l.rfind("listening ", 0) == 0) return std::atoi(l.substr(l.rfind(':') + 1).c_str());
            if (l.empty()) return 0;
        }
        return 0;
    }

    // Its exit status after `signo` (-1: it did not exit within the guard,
    // 128 + n: killed by signal n).
    int stop_with(int signo) {
        ::kill(pid, signo);
        const auto deadline = std::chrono::steady_clock::now() + k_hang_guard;
        int status = 0;
        bool eof = false;
        for (;;) {
            if (::waitpid(pid, &status, WNOHANG) == pid) break;
            if (ms_left(deadline) == 0) return -1;
            // Drain its output so that it never blocks on a full pipe (after
            // EOF, poll on no descriptor just waits the 10 ms).
            pollfd p{eof ? -1 : out, POLLIN, 0};
            if (::poll(&p, 1, 10) > 0) {
                char buf[512];
                if (::read(out, buf, sizeof buf) <= 0) eof = true;
            }
        }
        pid = -1;
        if (WIFEXITED(status)) return WEXITSTATUS(status);
        return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -2;
    }
};

// A blocking loopback client with hang-guarded reads.
struct client {
    int fd = -1;
    explicit client(int port) {
        fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<std::uint16_t>(port));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
            ::close(fd);
            fd = -1;
        }
    }
    ~client() {
        if (fd >= 0) ::close(fd);
    }
    bool send(const std::string& s) const { return ::send(fd, s.data(), s.size(), MSG_NOSIGNAL) == ssize_t(s.size()); }
    // Reads until `want` has been seen; returns what was read.
    std::string read_until(const std::string& want) const {
        const auto deadline = std::chrono::steady_clock::now() + k_hang_guard;
        std::string got;
        while (got.find(want) == std::string::npos) {
            pollfd p{fd, POLLIN, 0};
            if (::poll(&p, 1, ms_left(deadline)) <= 0) break;
            char buf[512];
            const ssize_t n = ::read(fd, buf, sizeof buf);
            if (n <= 0) break;
            got.append(buf, static_cast<std::size_t>(n));
        }
        return got;
    }
    // True once the server has closed its end (EOF or reset).
    bool closed_by_server() const {
        const auto deadline = std::chrono::steady_clock::now() + k_hang_guard;
        for (;;) {
            pollfd p{fd, POLLIN, 0};
            if (::poll(&p, 1, ms_left(deadline)) <= 0) return false;
            char buf[512];
            const ssize_t n = ::read(fd, buf, sizeof buf);
            if (n <= 0) return true;
        }
    }
};

std::string sample_path(const char* name) {
#ifdef GORO_SAMPLE_DIR
    return std::string(GORO_SAMPLE_DIR) + "/" + name;
#else
    (void)name;
    return "";
#endif
}

bool samples_built() {
    if (sample_path("echo_server").empty()) {
        WARN("SKIPPED: the samples are not built (-Dsamples=false)");
        return false;
    }
    return true;
}

}  // namespace

TEST_CASE("echo_server stops on SIGTERM and on SIGINT: it drains and exits 0", "[samples]") {
    if (!samples_built()) return;
    for (int signo : {SIGTERM, SIGINT}) {
        INFO("signal " << signo);
        sample_process p(sample_path("echo_server"), {"127.0.0.1:0"});
        const int port = p.listening_port();
        REQUIRE(port > 0);
        client c(port);
        REQUIRE(c.fd >= 0);
        REQUIRE(c.send("hello\n"));
        CHECK(c.read_until("hello\n") == "hello\n");
        CHECK(p.stop_with(signo) == 0);
        CHECK(c.closed_by_server());
    }
}

TEST_CASE("http_hello stops on SIGTERM with an idle keep-alive connection open: exit 0", "[samples]") {
    if (!samples_built()) return;
    static char env[] = "HTTP_ADDR=127.0.0.1:0";
    sample_process p(sample_path("http_hello"), {}, env);
    const int port = p.listening_port();
    REQUIRE(port > 0);
    client c(port);
    REQUIRE(c.fd >= 0);
    REQUIRE(c.send("GET / HTTP/1.1\r\nHost: test\r\n\r\n"));
    CHECK_THAT(c.read_until("Hello, World!"), Catch::Contains("Hello, World!"));
    CHECK(p.stop_with(SIGTERM) == 0);
    CHECK(c.closed_by_server());
}

TEST_CASE("chat serves clients on an address until SIGTERM: exit 0", "[samples]") {
    if (!samples_built()) return;
    sample_process p(sample_path("chat"), {"127.0.0.1:0"});
    const int port = p.listening_port();
    REQUIRE(port > 0);
    client a(port);
    REQUIRE(a.fd >= 0);
    CHECK_THAT(a.read_until("\n"), Catch::Contains("welcome"));
    client b(port);
    REQUIRE(b.fd >= 0);
    CHECK_THAT(b.read_until("\n"), Catch::Contains("welcome"));
    REQUIRE(a.send("hi from a\n"));
    CHECK_THAT(b.read_until("hi from a\n"), Catch::Contains("hi from a"));
    CHECK(p.stop_with(SIGTERM) == 0);
    CHECK(a.closed_by_server());
    CHECK(b.closed_by_server());
}
