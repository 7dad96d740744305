// Using goro from outside this repository, the two ways the README promises:
// `meson install` then `c++ app.cpp $(pkg-config --cflags --libs goro)`, and
// goro as a meson subproject (`dependency('goro')`, through
// meson.override_dependency). Each case drives the real tools in a temporary
// directory and runs the program it built.
//
// Built only in the release configurations (tests/meson.build): the
// sanitizer builds would install an instrumented library that a plain
// program cannot link.
#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "support/temp_dir.hpp"

namespace {

namespace stdfs = std::filesystem;


struct command_result {
    int status = -1;
    std::string output;  // stdout and stderr together
};

// Runs `cmd` through the shell, output captured.
command_result shell(const std::string& cmd) {
    command_result r;
    FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
    REQUIRE(p != nullptr);
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
    const int st = ::pclose(p);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
    return r;
}

std::string quoted(const stdfs::path& p) {
    std::string q = "'";  // (built in steps: g++ 12 warns falsely on "'" + s + "'")
    q += p.string();
    q += '\'';
    return q;
}

void write_file(const stdfs::path& p, const std::string& text) {
    stdfs::create_directories(p.parent_path());
    std::ofstream(p) << text;
}

// Builds `source` with the compiler of this build, `flags`, and the flags
// that pkg-config gives for goro (under `pkg_config_env`), runs the
// program, and returns what it printed; both steps must succeed.
std::string build_and_run(const stdfs::path& source, const std::string& pkg_config_env,
                          const std::string& flags = "-O1") {
    const stdfs::path program = stdfs::path(source).replace_extension();
    const auto build = shell(std::string(GORO_CXX) + " -std=c++20 " + flags + " " + quoted(source) + " -o " + quoted(program) +
                             " $(" + pkg_config_env + " pkg-config --cflags --libs goro)");
    INFO(build.output);
    REQUIRE(build.status == 0);
    const auto run = shell(quoted(program));
    INFO(run.output);
    REQUIRE(run.status == 0);
    return run.output;
}

// A program that touches the main parts of the public API: tasks, spawn and
// join, fork-join, a buffered channel closed by its producer, and the run
// loop.
constexpr const char* k_app = R"(#include <goro/goro.hpp>
#include <array>
#include <cstdio>
#include <vector>

goro::task<int> square(int x) { co_await goro::sleep(std::chrono::milliseconds(1)); co_return x * x; }

goro::task<void> produce(goro::chan<int> out) {
    for (int i = 1; i <= 10; ++i) co_await out.send(i);
    out.close();
}

goro::task<int> main_task() {
    auto h = goro::spawn(square(12));
    goro::chan<int> ch{2};
    goro::go(produce(ch));
    int sum = 0;
    while (auto v = co_await ch.recv()) sum += *v;
    const int squared = co_await std::move(h);
    const auto [one, four] = co_await goro::fj::all(square(1), square(2));
    if (one + four != 5) co_return 1;
    std::vector<goro::task<int>> more;
    more.push_back(square(3));
    const std::array<int, 2> nine = co_await goro::fj::all<2>(more);
    if (nine[0] != 9 || nine[1] != 0) co_return 1;
    std::printf("%d %d %u\n", squared, sum, goro::procs());
    co_return 0;
}

int main() { return goro::run(main_task(), {.procs = 2}); }
)";

}  // namespace

TEST_CASE("meson install: headers under include/goro, a goro.pc that builds a program", "[install]") {
    goro_test::temp_dir tmp("goro-install");
    const stdfs::path dest = tmp.dir / "dest";
    const auto install = shell("meson install -C " + quoted(GORO_BUILD_DIR) + " --no-rebuild --quiet --destdir " + quoted(dest));
    INFO(install.output);
    REQUIRE(install.status == 0);

    // Find what was installed, wherever the prefix and libdir put it.
    stdfs::path umbrella, pc;
    for (const auto& e : stdfs::recursive_directory_iterator(dest)) {
        if (e.path().filename() == "goro.hpp" && e.path().parent_path().filename() == "goro") umbrella = e.path();
        if (e.path().filename() == "goro.pc") pc = e.path();
    }
    REQUIRE(!umbrella.empty());
    REQUIRE(umbrella.parent_path().parent_path().filename() == "include");
    REQUIRE(stdfs::exists(umbrella.parent_path() / "runtime" / "task.hpp"));
    REQUIRE(stdfs::exists(umbrella.parent_path() / "io" / "net.hpp"));
    REQUIRE(!pc.empty());

    // Every header of the source tree is installed, in the same place.
    int headers = 0;
    for (const char* area : {"runtime", "io"}) {
        for (const auto& e : stdfs::recursive_directory_iterator(stdfs::path(GORO_SOURCE_DIR) / area)) {
            if (e.path().extension() != ".hpp") continue;
            ++headers;
            const auto relative = stdfs::relative(e.path(), GORO_SOURCE_DIR);
            INFO(relative);
            REQUIRE(stdfs::exists(umbrella.parent_path() / relative));
        }
    }
    REQUIRE(headers > 30);

    // fmt stays out of the public headers.
    const auto fmt_includes = shell("grep -rl 'include <fmt' " + quoted(umbrella.parent_path()));
    INFO(fmt_includes.output);
    REQUIRE(fmt_includes.output.empty());

    // PKG_CONFIG_SYSROOT_DIR puts the destdir in front of the .pc's -I and -L.
    write_file(tmp.dir / "app.cpp", k_app);
    const std::string env = "PKG_CONFIG_PATH=" + quoted(pc.parent_path()) + " PKG_CONFIG_SYSROOT_DIR=" + quoted(dest);
    const auto flags = shell(env + " pkg-config --cflags --libs goro");
    INFO(flags.output);
    REQUIRE(flags.status == 0);
    REQUIRE(build_and_run(tmp.dir / "app.cpp", env) == "144 55 2\n");
    // A debug build with every warning an error, as a user's may be: the
    // headers compile clean at -O0 too (g++ once warned on every
    // coroutine there, -Wmismatched-new-delete: the promise's operator new
    // is a template, which it did not pair with the operator delete).
    REQUIRE(build_and_run(tmp.dir / "app.cpp", env, "-O0 -Wall -Wextra -Werror") == "144 55 2\n");

    // The README's ten-line example, exactly as printed there, builds the same
    // way and prints the sum of (i % 100)^2 over 100,000 tasks.
    std::ifstream readme(stdfs::path(GORO_SOURCE_DIR) / "README.md");
    std::stringstream text;
    text << readme.rdbuf();
    const std::string md = text.str();
    const auto section = md.find("## Ten lines");
    REQUIRE(section != std::string::npos);
    const auto open = md.find("```cpp\n", section);
    REQUIRE(open != std::string::npos);
    const auto body = open + std::string("```cpp\n").size();
    const auto close = md.find("```", body);
    REQUIRE(close != std::string::npos);
    write_file(tmp.dir / "ten_lines.cpp", md.substr(body, close - body));
    REQUIRE(build_and_run(tmp.dir / "ten_lines.cpp", env) == "328350000\n");
}

TEST_CASE("goro as a meson subproject: dependency('goro') finds goro_dep", "[install]") {
    goro_test::temp_dir tmp("goro-install");
    const stdfs::path project = tmp.dir / "app";
    write_file(project / "main.cpp", k_app);
    write_file(project / "meson.build",
               "project('app', 'cpp', default_options: ['cpp_std=c++20'])\n"
               "subproject('goro')  # builds the library only: no tests, samples or benchmarks\n"
               "executable('app', 'main.cpp', dependencies: dependency('goro'))\n");
    stdfs::create_directories(project / "subprojects");
    stdfs::create_directory_symlink(GORO_SOURCE_DIR, project / "subprojects" / "goro");

    const stdfs::path build_dir = tmp.dir / "build";
    // -O0 keeps the rebuild of goro short; the point here is the wiring.
    const auto setup = shell("CXX=" + quoted(GORO_CXX) + " meson setup --buildtype=debug " + quoted(build_dir) + " " +
                             quoted(project));
    INFO(setup.output);
    REQUIRE(setup.status == 0);
    const auto build = shell("ninja -C " + quoted(build_dir));
    INFO(build.output);
    REQUIRE(build.status == 0);
    const auto run = shell(quoted(build_dir / "app"));
    INFO(run.output);
    REQUIRE(run.status == 0);
    REQUIRE(run.output == "144 55 2\n");
}
