// Running out of memory while spawning leaves the runtime usable: goro::go
// throws std::bad_alloc, and the tasks that did start finish and free their
// registry slots without allocating (registry::erase is noexcept; it used to
// push onto a vector that could reallocate, and the runtime then called
// std::terminate as the tasks finished).
#include <catch2/catch.hpp>

#include <sys/resource.h>

#include <cstdio>
#include <fstream>
#include <new>
#include <string>

#include <goro/goro.hpp>

#include "support/child_process.hpp"
#include "support/watchdog.hpp"

namespace {

// The process's virtual size in bytes (VmSize), or 0.
std::size_t virtual_size() {
    std::ifstream status("/proc/self/status");
    std::string key;
    while (status >> key) {
        if (key == "VmSize:") {
            std::size_t kib = 0;
            status >> kib;
            return kib * 1024;
        }
        status.ignore(1 << 20, '\n');
    }
    return 0;
}

goro::task<> park_until_closed(goro::chan<int> gate, goro::wait_group& wg) {
    co_await gate.recv();
    wg.done();
}

goro::task<int> answer() { co_return 42; }

}  // namespace

TEST_CASE("spawning until memory runs out, then finishing, leaves the runtime usable", "[sched][oom]") {
    if (goro_test::stress_divisor != 1) {
        // The sanitizers reserve terabytes of address space: an address-space
        // limit cannot stand for a memory limit there.
        WARN("skipped under a sanitizer: RLIMIT_AS cannot model memory exhaustion there");
        return;
    }
    auto result = goro_test::run_in_child([] {
        auto main_task = []() -> goro::task<int> {
            // 256 MiB more than the process maps now: room for about a
            // million sleeping tasks, then std::bad_alloc.
            const rlimit limit{virtual_size() + (256u << 20), RLIM_INFINITY};
            if (::setrlimit(RLIMIT_AS, &limit) != 0) co_return 3;
            goro::chan<int> gate;
            goro::wait_group wg;
            long started = 0;
            try {
                for (;;) {
                    wg.add(1);
                    try {
                        goro::go(park_until_closed(gate, wg));
                    } catch (...) {
                        wg.done();
                        throw;
                    }
                    ++started;
                }
            } catch (const std::bad_alloc&) {
            }
            if (started < 1000) co_return 4;  // the limit was too tight to test anything
            gate.close();      // every task finishes and frees its registry slot
            co_await wg.wait();
            if (goro::num_goroutines() != 1) co_return 5;
            // Still usable: a new task runs and is joined.
            const int v = co_await goro::spawn(answer());
            std::fprintf(stderr, "started %ld tasks before std::bad_alloc\n", started);
            co_return v == 42 ? 0 : 6;
        };
        return goro::run(main_task(), {.procs = 1});
    });
    INFO(result.stderr_text);
    REQUIRE(!result.timed_out);
    REQUIRE(result.exit_status == 0);
}
