// Goroutine dumps: the list of live goroutines with what each waits on and
// where it was spawned, printed by the deadlock report and on SIGQUIT (as
// Go's runtime does). Internal to the scheduler.
#pragma once

#include <string>

namespace goro::detail {

struct runtime_state;
struct processor;

/// One "goroutine N [reason]:" entry per live goroutine, Go's format. Reads the
/// registries racily: call it with the world stopped (or everyone asleep).
std::string describe_goroutines(runtime_state& rt);

/// Called by a processor at the top of its scheduling loop while a dump has
/// asked the world to stop (runtime_state::stop_world): waits, running
/// nothing, until the dump is written.
void world_stop_point(runtime_state& rt) noexcept;

/// For the life of a run: on SIGQUIT, stops the world (waiting at most a
/// second for goroutines that never suspend), prints "SIGQUIT: quit" and the
/// goroutine dump on stderr, and exits with status 2, as Go does. Installed
/// only when SIGQUIT has its default disposition (a program's own handler
/// wins), and the previous disposition is restored afterwards.
class quit_signal_dumper {
public:
    explicit quit_signal_dumper(runtime_state& rt);
    ~quit_signal_dumper();
    quit_signal_dumper(const quit_signal_dumper&) = delete;
    quit_signal_dumper& operator=(const quit_signal_dumper&) = delete;

private:
    struct impl;
    impl* m_impl = nullptr;
};

}  // namespace goro::detail
