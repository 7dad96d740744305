// The execution trace (runtime/trace.cpp): GORO_TRACE / options::trace write
// a Chrome Trace Event file whose tracks, slices, park events and flow
// arrows match a known program: tennis on two processors, where each hit is
// one channel hand-off. The file is checked as JSON by python3 (skipped
// loudly where python3 is missing) and by counting its events.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include <goro/goro.hpp>

#include "support/temp_dir.hpp"
#include "support/handed_off.hpp"
#include "support/watchdog.hpp"

using namespace std::chrono_literals;
using goro_test::watchdog;

namespace {

constexpr int k_hits = 50;

goro::task<> player(goro::chan<int> in, goro::chan<int> out, bool serves, goro::wait_group& wg) {
    if (serves) co_await out.send(0);
    for (int i = 0; i < k_hits; ++i) {
        auto ball = co_await in.recv();
        if (i + 1 < k_hits || !serves) co_await out.send(*ball + 1);
    }
    wg.done();
}

// Tennis: 2 * k_hits hits (sends) over unbuffered channels: the server's
// serve and 49 returns, the other player's 50 returns. Each is one hand-off:
// one of the two players parks and the other readies it.
goro::task<> tennis() {
    goro::chan<int> a, b;
    goro::wait_group wg;
    wg.add(2);
    goro::go(player(a, b, true, wg));
    goro::go(player(b, a, false, wg));
    co_await wg.wait();
}

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

std::size_t count(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
}

bool have_python() { return std::system("python3 -c 'import json' >/dev/null 2>&1") == 0; }

// python3 parses the file as JSON and prints "<flows by cat> <unmatched flow ends>".
std::string python_summary(const std::string& path) {
    const std::string cmd =
        "python3 -c 'import json,sys,collections\n"
        "d=json.load(open(sys.argv[1]))\n"
        "ev=d[\"traceEvents\"]\n"
        "s={e[\"id\"]:e[\"cat\"] for e in ev if e[\"ph\"]==\"s\"}\n"
        "f=[e for e in ev if e[\"ph\"]==\"f\"]\n"
        "c=collections.Counter(s.values())\n"
        "print(\" \".join(k+\"=\"+str(c[k]) for k in sorted(c)), \"unmatched=\"+str(sum(1 for e in f if e[\"id\"] not in s)))' " +
        path;
    std::FILE* p = ::popen(cmd.c_str(), "r");
    REQUIRE(p);
    std::string out;
    char buf[256];
    while (std::fgets(buf, sizeof buf, p)) out += buf;
    CHECK(::pclose(p) == 0);
    return out;
}

}  // namespace

TEST_CASE("a trace of tennis on two processors has every hand-off as a flow", "[trace]") {
    watchdog dog("trace of tennis", 60s);
    goro_test::temp_dir tmp("goro-trace");
    const std::string path = (tmp.dir / "tennis.json").string();
    goro::run(tennis(), {.procs = 2, .trace = path});
    const std::string text = read_file(path);
    REQUIRE_FALSE(text.empty());
    INFO(text.substr(0, 2000));
    // A track per processor, a slice per run named by its spawn site.
    CHECK(count(text, R"("args":{"name":"P0"})") == 1);
    CHECK(count(text, R"("args":{"name":"P1"})") == 1);
    CHECK(count(text, R"("cat":"run","ph":"X")") >= 2 * k_hits);
    CHECK(count(text, R"("name":"trace_test.cpp:)") >= 2 * k_hits);
    // Every hit is one hand-off: the readied player waited on a channel.
    CHECK(count(text, R"("cat":"handoff","ph":"s")") == 2 * k_hits);
    CHECK(count(text, R"("cat":"handoff","ph":"f")") == 2 * k_hits);
    // The two players' spawns, and main readied by the wait group.
    CHECK(count(text, R"("cat":"spawn","ph":"s")") == 2);
    // Main parks in wg.wait() unless the players were done first; if it
    // did, the last done() readied it: one "ready" flow per such park.
    const std::size_t main_parks = count(text, R"("reason":"sync.WaitGroup.Wait","kind":"mutex")");
    CHECK(main_parks <= 1);
    CHECK(count(text, R"("cat":"ready","ph":"s")") == main_parks);
    CHECK(count(text, R"("kind":"channel")") == 2 * k_hits);
    CHECK(count(text, R"("goro_dropped_events":0)") == 1);
    if (!have_python()) {
        WARN("python3 is missing: the trace was not checked as JSON");
        return;
    }
    CHECK(python_summary(path) == (main_parks ? "handoff=100 ready=1 spawn=2 unmatched=0\n"
                                              : "handoff=100 spawn=2 unmatched=0\n"));
}

// Every ready is traced, whichever way it goes (the ready hooks,
// detail/processor_stats.hpp): a timer's wake (ready_local from the
// scheduler), three sends to parked receivers in one run (ready(): the
// first takes runnext's hook mark, the next two displace a goroutine,
// the branch that tests the trace itself), and a close that wakes three
// receivers (ready_local from a task). One "unpark" instant each.
TEST_CASE("a trace records every ready: runnext's, a displacing one, the deque's", "[trace]") {
    watchdog dog("trace of every ready", 60s);
    goro_test::temp_dir tmp("goro-trace");
    const std::string path = (tmp.dir / "readies.json").string();
    goro::run(
        []() -> goro::task<> {
            goro::chan<int> cs[3];
            goro::chan<int> closing;
            for (auto& c : cs)
                goro::go([](goro::chan<int> in) -> goro::task<> { (void)co_await in.recv(); }(c));
            for (int i = 0; i < 3; ++i)
                goro::go([](goro::chan<int> in) -> goro::task<> { (void)co_await in.recv(); }(closing));
            co_await goro::sleep(1ms);  // all six park; main's wake: 1
            for (int i = 0; i < 3; ++i) co_await cs[i].send(i);  // 3, none of them parks main
            closing.close();  // 3
            // Main returns: the readied six may never run; their readies
            // are in the trace all the same.
        }(),
        {.procs = 1, .trace = path});
    const std::string text = read_file(path);
    REQUIRE_FALSE(text.empty());
    INFO(text.substr(0, 2000));
    CHECK(count(text, R"("cat":"spawn","ph":"s")") == 6);
    // A run that outlasted its time slice (a loaded machine) may have lost
    // the processor: its readies then come from a thread without one,
    // which records none.
    if (count(text, R"("cat":"lost_run")") == 0)
        CHECK(count(text, R"("cat":"unpark")") == 7);
    else
        CHECK(count(text, R"("cat":"unpark")") <= 7);
}

TEST_CASE("a run that loses its processor in a hand-off ends on the thread's own track", "[trace][handoff]") {
    // One processor, the epoll driver (it hands off by default): a task spins
    // until a task queued behind it has run, which only a hand-off allows.
    // Its run ends on a thread that no longer holds the processor: the slice
    // goes on a track of that thread's, named by the task's spawn site.
    watchdog dog("trace of a hand-off", 60s);
    goro_test::temp_dir tmp("goro-trace");
    const std::string path = (tmp.dir / "handoff.json").string();
    goro::options o;
    o.procs = 1;
    o.netpoll = goro::netpoll_kind::epoll;
    o.time_slice = 1ms;
    o.trace = path;
    int hog_line = 0;
    goro::run(
        [&]() -> goro::task<> {
            auto hog = [](goro::wait_group* wg) -> goro::task<> {
                goro_test::spin_until_handed_off();
                wg->done();
                co_return;
            };
            goro::wait_group wg;
            wg.add(1);
            hog_line = __LINE__ + 1;
            goro::go(hog(&wg));
            co_await wg.wait();
        }(),
        o);
    const std::string text = read_file(path);
    REQUIRE_FALSE(text.empty());
    INFO(text.substr(0, 3000));
    const std::string hog_name = "\"name\":\"trace_test.cpp:" + std::to_string(hog_line) + " ";
    bool hog_lost = false;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);)
        if (line.find(hog_name) != std::string::npos && line.find(R"("cat":"lost_run")") != std::string::npos)
            hog_lost = true;
    CHECK(hog_lost);
    CHECK(count(text, R"(, handed off"})") >= 1);
    CHECK(count(text, R"("cat":"lost_run")") == count(text, R"("cat":"lost_run","ph":"X")"));
    if (have_python()) CHECK(python_summary(path).find("unmatched=0") != std::string::npos);
}

TEST_CASE("a trace is bounded: a ring of the last events of each processor", "[trace]") {
    watchdog dog("bounded trace", 60s);
    goro_test::temp_dir tmp("goro-trace");
    const std::string path = (tmp.dir / "ring.json").string();
    goro::run(tennis(), {.procs = 1, .trace = path, .trace_events = 64});
    const std::string text = read_file(path);
    REQUIRE(count(text, R"("ph":"X")") > 0);
    CHECK(count(text, R"("ph":"X")") + count(text, R"("ph":"i")") <= 64);
    CHECK(count(text, R"("goro_dropped_events":0)") == 0);
    if (have_python()) CHECK(python_summary(path).find("unmatched=0") != std::string::npos);
}

TEST_CASE("GORO_TRACE names the file; blocking calls have their own track", "[trace]") {
    watchdog dog("GORO_TRACE", 60s);
    goro_test::temp_dir tmp("goro-trace");
    const std::string path = (tmp.dir / "env.json").string();
    ::setenv("GORO_TRACE", path.c_str(), 1);
    goro::run(
        []() -> goro::task<> {
            auto nap = [] { std::this_thread::sleep_for(1ms); };
            co_await goro::blocking(nap);
            co_await goro::sleep(1ms);
        }(),
        {.procs = 1});
    ::unsetenv("GORO_TRACE");
    const std::string text = read_file(path);
    CHECK(count(text, R"("args":{"name":"blocking 0"})") == 1);
    CHECK(count(text, R"("name":"blocking call","cat":"blocking","ph":"X")") == 1);
    CHECK(count(text, R"("reason":"blocking call","kind":"blocking")") == 1);
    CHECK(count(text, R"("reason":"sleep","kind":"timer")") == 1);
    if (have_python()) CHECK(python_summary(path).find("unmatched=0") != std::string::npos);
}

TEST_CASE("a second run traced to the same file writes <name>-2.<ext>", "[trace]") {
    watchdog dog("second traced run", 60s);
    goro_test::temp_dir tmp("goro-trace");
    const std::string path = (tmp.dir / "twice.json").string();
    goro::run(tennis(), {.procs = 1, .trace = path});
    goro::run(tennis(), {.procs = 2, .trace = path});
    CHECK(count(read_file(path), R"("args":{"name":"P1"})") == 0);
    CHECK(count(read_file((tmp.dir / "twice-2.json").string()), R"("args":{"name":"P1"})") == 1);
}

TEST_CASE("a run without a trace writes nothing", "[trace]") {
    goro_test::temp_dir tmp("goro-trace");
    goro::run(tennis(), {.procs = 2});
    CHECK(std::filesystem::is_empty(tmp.dir));
}
