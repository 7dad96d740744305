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
#include <string_view>
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

// How many live tasks are in a state starting with `prefix` (the
// registry's word: the tests below wait on it for the park they trace).
std::size_t in_state(std::string_view prefix) {
    std::size_t n = 0;
    for (const auto& r : goro::goroutines())
        if (r.state.starts_with(prefix)) ++n;
    return n;
}

bool main_joins() {
    for (const auto& r : goro::goroutines())
        if (r.main) return r.state == "join";
    return false;
}

goro::task<> set_flag(std::atomic<bool>* flag) {
    flag->store(true, std::memory_order_release);
    co_return;
}

goro::task<> lock_once(goro::mutex* m) {
    co_await m->lock();
    m->unlock();
}

goro::task<> receive_one(goro::chan<int> c) { (void)co_await c.recv(); }

// Sends once main waits in a join (of the receiver this send wakes).
goro::task<> send_once_main_joins(goro::chan<int> c) {
    while (!main_joins()) co_await goro::yield();
    co_await c.send(1);
}

goro::task<> accept_one(goro::net::tcp_listener l) { (void)co_await l.accept(); }

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
// A steal made certain (as in metrics_test.cpp): two processors and
// max_threads == procs, so no spare thread and no hand-off; main starts a
// child (its processor's deque) and spins without suspending until the
// child has run, which only the other processor can do, by stealing it.
// The thief records the steal in its ring (note_steal).
TEST_CASE("a trace of a forced steal has a steal event", "[trace]") {
    watchdog dog("trace of a steal", 60s);
    goro_test::temp_dir tmp("goro-trace");
    const std::string path = (tmp.dir / "steal.json").string();
    goro::options o;
    o.procs = 2;
    o.max_threads = 2;
    o.trace = path;
    goro::run(
        []() -> goro::task<> {
            std::atomic<bool> ran{false};
            auto child = goro::spawn(set_flag(&ran));
            while (!ran.load(std::memory_order_acquire)) {
            }
            co_await std::move(child);
        }(),
        o);
    const std::string text = read_file(path);
    REQUIRE_FALSE(text.empty());
    INFO(text.substr(0, 3000));
    CHECK(count(text, R"("name":"steal","cat":"steal","ph":"i")") >= 1);
    CHECK(count(text, R"("args":{"from":"P)") == count(text, R"("cat":"steal")"));
    CHECK(count(text, R"("goro_dropped_events":0)") == 1);
    if (have_python()) CHECK(python_summary(path).find("unmatched=0") != std::string::npos);
}

// Parks of three kinds, each certain. One processor, max_threads 2 (no
// spare thread, so no hand-off: one task runs at a time).
//   - mutex: main holds a goro::mutex while a task locks it, and lets go
//     only once the registry shows that task waiting on sync.Mutex.Lock.
//   - join: main joins a task that waits on a channel (it started and
//     parked, so the join cannot run it in place); the sender sends only
//     once the registry shows main waiting on the join.
//   - I/O: a task accepts on a listener before anyone connects (main
//     connects once the registry shows it waiting on IO wait).
// A park is traced where the task records its wait (note_waiting), before
// it publishes itself to a waker.
TEST_CASE("a trace has parks on a mutex, a join and I/O, by kind", "[trace]") {
    watchdog dog("trace of parks by kind", 60s);
    goro_test::temp_dir tmp("goro-trace");
    const std::string path = (tmp.dir / "parks.json").string();
    goro::options o;
    o.procs = 1;
    o.max_threads = 2;
    o.trace = path;
    goro::run(
        []() -> goro::task<> {
            goro::mutex m;
            co_await m.lock();
            auto locker = goro::spawn(lock_once(&m));
            while (in_state("sync.Mutex.Lock") == 0) co_await goro::yield();
            m.unlock();
            co_await std::move(locker);

            goro::chan<int> c;
            auto receiver = goro::spawn(receive_one(c));
            while (in_state("chan receive") == 0) co_await goro::yield();
            goro::go(send_once_main_joins(c));
            co_await std::move(receiver);

            auto l = goro::net::tcp_listener::listen("127.0.0.1:0").value();
            const auto addr = l.local_address().value();
            auto acceptor = goro::spawn(accept_one(l));
            while (in_state("IO wait") == 0) co_await goro::yield();
            auto conn = co_await goro::net::tcp_stream::connect(addr);
            (void)conn;
            co_await std::move(acceptor);
        }(),
        o);
    const std::string text = read_file(path);
    REQUIRE_FALSE(text.empty());
    INFO(text.substr(0, 3000));
    CHECK(count(text, R"("reason":"sync.Mutex.Lock","kind":"mutex")") >= 1);
    CHECK(count(text, R"("reason":"join","kind":"join")") >= 1);
    CHECK(count(text, R"x("reason":"IO wait (accept)","kind":"I/O")x") >= 1);
    CHECK(count(text, R"("goro_dropped_events":0)") == 1);
    if (have_python()) CHECK(python_summary(path).find("unmatched=0") != std::string::npos);
}

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
