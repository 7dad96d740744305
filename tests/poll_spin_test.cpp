// poll_spin (runtime/detail/poll_spin.hpp): the window a processor spends
// looking for work before it parks with I/O in flight. The policy alone,
// on a clock the test drives: spins that find nothing shrink the window
// to none, a probe comes every k_probe_every parks, and work found during
// a spin or a probe restores the full window.
#include <catch2/catch.hpp>

#include <cstdint>

#include <goro/runtime/detail/poll_spin.hpp>

namespace {

using goro::detail::poll_spin;

// Runs one find_runnable call's spin from `now` that finds nothing: true
// when it spun at all (it stops exactly when its window has run out).
bool spin_finding_nothing(poll_spin& s, std::int64_t& now) {
    s.begin(now);
    const std::int64_t started = now;
    while (s.keep_going(now)) now += 100;
    return now != started;
}

}  // namespace

TEST_CASE("poll_spin: a new processor spins for the full window", "[sched][poll_spin]") {
    poll_spin s;
    std::int64_t now = 1'000'000;
    s.begin(now);
    CHECK(s.keep_going(now));
    CHECK(s.keep_going(now + poll_spin::k_max_ns - 1));
    CHECK_FALSE(s.keep_going(now + poll_spin::k_max_ns));
    CHECK_FALSE(s.keep_going(now + poll_spin::k_max_ns + 1));  // over: no new spin without begin()
}

TEST_CASE("poll_spin: empty spins halve the window down to none", "[sched][poll_spin]") {
    poll_spin s;
    std::int64_t now = 1'000'000;
    std::int64_t expected = poll_spin::k_max_ns;
    int spins = 0;
    while (s.window_ns() != 0) {
        REQUIRE(s.window_ns() == expected);
        const std::int64_t before = now;
        REQUIRE(spin_finding_nothing(s, now));
        CHECK(now - before >= expected);
        CHECK(now - before < expected + 100 + 1);
        expected /= 2;
        if (expected < poll_spin::k_min_ns) expected = 0;
        ++spins;
        REQUIRE(spins < 64);
    }
    // 20 us, 10, 5, 2.5, 1.25: five spins before none.
    CHECK(spins == 5);
}

TEST_CASE("poll_spin: without a window, every k_probe_every-th park probes", "[sched][poll_spin]") {
    poll_spin s;
    std::int64_t now = 1'000'000;
    while (s.window_ns() != 0) spin_finding_nothing(s, now);
    for (int round = 0; round < 3; ++round) {
        for (unsigned i = 1; i < poll_spin::k_probe_every; ++i) {
            INFO("park " << i << " of round " << round);
            CHECK_FALSE(spin_finding_nothing(s, now));  // parks at once
        }
        const std::int64_t before = now;
        CHECK(spin_finding_nothing(s, now));  // the probe: the full window
        CHECK(now - before >= poll_spin::k_max_ns);
        CHECK(s.window_ns() == 0);  // it found nothing: still none
    }
}

TEST_CASE("poll_spin: work found during a spin restores the full window", "[sched][poll_spin]") {
    poll_spin s;
    std::int64_t now = 1'000'000;
    spin_finding_nothing(s, now);
    spin_finding_nothing(s, now);
    REQUIRE(s.window_ns() == poll_spin::k_max_ns / 4);
    // A spin that found work: the call returned while keep_going said yes.
    s.begin(now);
    REQUIRE(s.keep_going(now + 10));
    now += 1'000;
    // The next call's spin gets the full window again.
    s.begin(now);
    CHECK(s.window_ns() == poll_spin::k_max_ns);
    CHECK(s.keep_going(now + poll_spin::k_max_ns - 1));
}

TEST_CASE("poll_spin: a probe that finds work restores the full window", "[sched][poll_spin]") {
    poll_spin s;
    std::int64_t now = 1'000'000;
    while (s.window_ns() != 0) spin_finding_nothing(s, now);
    for (unsigned i = 1; i < poll_spin::k_probe_every; ++i) REQUIRE_FALSE(spin_finding_nothing(s, now));
    s.begin(now);  // the probe
    REQUIRE(s.keep_going(now + 1));
    now += 2'000;  // it found work and the call returned
    s.begin(now);
    CHECK(s.window_ns() == poll_spin::k_max_ns);
    CHECK(s.keep_going(now + 1));
}
