// run_in_child: runs a scenario in a forked child process and reports how it
// ended, for behaviour that ends the process (panics, the deadlock report).
//
//     auto r = goro_test::run_in_child([] { ...; return 0; });
//     REQUIRE(r.exit_status == 2);
//     REQUIRE_THAT(r.stderr_text, Catch::StartsWith("fatal error: ..."));
//
// The child's stderr is captured through a pipe; its stdout is discarded. The
// lambda's return value is the child's exit status (if it returns). A child
// killed by a signal reports exit_status = 128 + signal number. A child still
// running after `limit` is killed (SIGKILL) and reported with timed_out = true.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace goro_test {

struct child_result {
    int exit_status = -1;
    bool timed_out = false;
    std::string stderr_text;
};

template <typename F>
child_result run_in_child(F&& scenario, std::chrono::milliseconds limit = std::chrono::seconds(30)) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) std::abort();
    std::fflush(stdout);
    std::fflush(stderr);
    const pid_t pid = ::fork();
    if (pid < 0) std::abort();
    if (pid == 0) {
        ::dup2(fds[1], STDERR_FILENO);
        const int devnull = ::open("/dev/null", O_WRONLY);
        if (devnull >= 0) ::dup2(devnull, STDOUT_FILENO);
        ::close(fds[0]);
        int status = 0;
        try {
            status = scenario();
        } catch (const std::exception& e) {
            std::fprintf(stderr, "child: uncaught exception: %s\n", e.what());
            status = 99;
        }
        std::fflush(stdout);
        std::fflush(stderr);
        std::_Exit(status);
    }
    ::close(fds[1]);
    child_result result;
    const auto deadline = std::chrono::steady_clock::now() + limit;
    char buf[4096];
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            ::kill(pid, SIGKILL);
            result.timed_out = true;
            break;
        }
        pollfd pfd{fds[0], POLLIN, 0};
        const int ready = ::poll(&pfd, 1, static_cast<int>(left.count()));
        if (ready <= 0) continue;
        const ssize_t n = ::read(fds[0], buf, sizeof buf);
        if (n <= 0) break;  // EOF: the child exited (or closed stderr)
        result.stderr_text.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (WIFEXITED(status))
        result.exit_status = WEXITSTATUS(status);
    else if (WIFSIGNALED(status))
        result.exit_status = 128 + WTERMSIG(status);
    return result;
}

}  // namespace goro_test
