// Goroutine dumps (deadlock report, SIGQUIT, goro::dump). See
// detail/goroutine_dump.hpp.
//
// ## Reading goroutines while they run (the dump pin)
//
// A dump walks the deques, the registries (scheduler_state.hpp) and the
// in-place chains (goroutine_copier, below) and copies each goroutine's id,
// spawn site, wait reason and wait time out of its frame;
// the frame may be freed the moment the goroutine finishes, on any
// processor. goro::dump must work at full load without stopping anyone, so
// finishing pays only a compiler barrier and a load of a read-mostly word,
// and the dump pays a membarrier(2) (an asymmetric fence; the monitor's
// reports read a goroutine under this same pin: sample_registered_goroutine,
// and "the pin protocol" in runtime/sysmon.cpp):
//
//   dump                                     finish_goroutine(g)
//   dump_readers += 1 (seq_cst)              slot = null (release; erase)
//   membarrier()                             compiler barrier
//   g = slot (acquire)                       if dump_readers != 0 (acquire):
//   if g: copy g's fields                        wait until it is 0
//   dump_readers -= 1 (release), wake        ... the frame may be freed
//
// If the finisher's load comes after the membarrier's barrier on its
// thread, it sees the count and waits; the decrement (release) orders the
// copy before the free. If it comes before, so does its store of null,
// which the barrier makes visible: the dump reads null (or a goroutine
// started since in the same slot, published by insert's release store,
// alive and equally fine to copy). The copy only copies fields into a
// vector reserved beforehand: formatting and demangling happen after the
// pin is released, so finishers wait for the walk alone. Where membarrier is refused (seccomp), a dump stops the
// world instead (below), counting its own processor as stopped.
//
// SIGQUIT path: the signal handler only writes to an eventfd (async-signal
// safe). A dump thread, blocked reading that eventfd for the life of the run,
// then asks the processors to stop (runtime_state::stop_world): each one
// checks the flag at the top of its scheduling loop and waits there, so no
// goroutine runs, finishes or is freed while the registries are read. Parked
// processors count as stopped: one that wakes up checks the flag before
// running anything. A thread whose processor was handed off (nlost) runs
// its task on without one and is not stopped by the flag: it may finish
// goroutines and free their frames, so the world counts as stopped only
// once none is left (but the caller, when the caller is one; a goro::dump
// holds its own processor meanwhile, so that it cannot become one). A
// processor stuck in a goroutine that never suspends cannot stop; after a
// second the dump is written anyway (marked as racy), since a stuck
// program is exactly what people send SIGQUIT to. (TSan caught a
// stop-the-world goro::dump copying a frame that a lost thread freed.)

#include "detail/goroutine_dump.hpp"
#include "detail/fatal.hpp"
#include "error.hpp"

#include <cxxabi.h>
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <fmt/core.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <utility>
#include <atomic>
#include <mutex>
#include <vector>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <thread>

#include "detail/machine.hpp"
#include "detail/scheduler_state.hpp"
#include "detail/signal_watch.hpp"

namespace goro::detail {

std::atomic<std::uint32_t> g_park_word{0};

// The function a spawn site names, readable. Inside a coroutine, g++ 12's
// source_location::function_name() is the coroutine's actor function, whose
// one parameter is the frame type, named after the mangled coroutine:
// "goro::task<void> serve(_ZN4goro3net5serveE....Frame*)", or for a lambda
// "f()::<lambda()>::operator()(f()::<lambda()>::_ZZ...Frame*)". The mangled name
// demangles to the coroutine's own signature, which is what a reader wants.
// Anything else (clang's names, plain functions) is returned as it is.
std::string readable_function(const char* name) {
    const std::string_view n(name);
    const std::size_t frame = n.rfind(".Frame*)");
    if (frame == std::string_view::npos) return std::string(n);
    // The frame type may be qualified ("f()::<lambda()>::_ZZ...Frame*"): the
    // mangled name is the last "_Z..." word before ".Frame".
    const std::size_t z = n.rfind("_Z", frame);
    if (z == std::string_view::npos || z == 0 || (n[z - 1] != '(' && n[z - 1] != ':')) return std::string(n);
    const std::string mangled(n.substr(z, frame - z));
    int status = 0;
    char* demangled = abi::__cxa_demangle(mangled.c_str(), nullptr, nullptr, &status);
    if (status != 0 || !demangled) return std::string(n);
    std::string out(demangled);
    std::free(demangled);
    return out;
}

namespace {

std::atomic<bool> g_force_stop_the_world{false};

// Registers the process for MEMBARRIER_CMD_PRIVATE_EXPEDITED, once.
bool membarrier_ready() noexcept {
    static const bool ok = ::syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
    return ok && !g_force_stop_the_world.load(std::memory_order_relaxed);
}

// The heavy half of the asymmetric fence, after the seq_cst increment of
// dump_readers. No std::atomic_thread_fence: TSan does not support them.
bool heavy_fence() noexcept {
    return ::syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0;
}

// What a dump reads, and in which order. A live goroutine is in one of
// three places, and moves between them in one direction:
//
//   a run queue      started and never run (lazy registration:
//                    processor::goroutines), or readied there: a deque,
//                    then the global queue
//   a registry       ran
//   a record's chain run in place by its joiner (run_in_place), from a
//                    deque (or, rarely, from a registry: chain first, then
//                    the slot is cleared)
//
// So one pass reads every deque, the global queue (under its lock), every
// registry, then the chains of the records it found: a goroutine that a
// pass misses in one place has left it for a later one, which the pass
// reads after. Moves out of a run queue are not atomic, though: the
// goroutine is out of the deque (a pop, a steal, a take) before it is in a
// registry, the global queue or a chain, and one taken from the global
// queue may go back to a deque. Each such move is a transit (processor::transit_epoch, odd while it lasts): the pinned dump
// reads every processor's epoch before and after its pass, waits out any
// transit that overlapped the pass, and then reads again, keeping the later
// copy of a goroutine read twice. Under the pin, anything read from any of
// the three places stays allocated until the pin is released (its finish,
// or end_in_place, waits at the dump's finish point). The copy only copies
// fields into vectors reserved beforehand (but for a rare growth):
// formatting happens after the pin is released.
//
// What a chain shows: its innermost child runs or waits as the record does
// (the record parks for it: its wait reason and time are the child's), and
// the record and every child outside the innermost wait for the one inside
// ("join", with no time: nothing stamps when an in-place join began).
class goroutine_copier {
public:
    goroutine_copier(runtime_state& rt, std::size_t room, bool sched_lock_held)
        : m_rt(rt), m_sched_lock_held(sched_lock_held) {
        // acquire: as the monitor reads `running`; only the pointer is compared.
        m_running.reserve(rt.procs.size());
        for (auto& p : rt.procs) m_running.push_back(p->running.load(std::memory_order_acquire));
        m_found.reserve(room);
    }

    // One pass over the deques, the registries and the chains.
    void pass() {
        for (auto& p : m_rt.procs) p->deque.for_each_racy([&](goroutine* g) { copy(g); });
        if (m_sched_lock_held) {
            copy_global_queue();
        } else {
            std::lock_guard guard(m_rt.sched_lock);
            copy_global_queue();
        }
        const std::size_t registered_from = m_found.size();
        m_slots.clear();
        auto copy_registered = [&](goroutine* g, registry_slot& slot) {
            copy(g);
            m_slots.push_back(&slot);
        };
        {
            std::lock_guard guard(m_rt.external_lock);
            m_rt.external_goroutines.for_each_slot(copy_registered);
        }
        for (auto& p : m_rt.procs) p->goroutines.for_each_slot(copy_registered);
        // The chains: only registered records head one (a child's own
        // in-place joins push onto its record's chain).
        for (std::size_t k = 0; k < m_slots.size(); ++k) {
            const std::size_t i = registered_from + k;
            // acquire: pairs with run_in_place's release push (the child's
            // fields and link; each link was written before its child's push).
            goroutine* child = m_slots[k]->in_place_child.load(std::memory_order_acquire);
            // The slot may hold another goroutine since (the record
            // finished, with an empty chain, and the slot was reused): its
            // chain is not this record's. (A reuse between this check and
            // the load above can only show a newer record's children under
            // this one's state, in a racy snapshot.)
            if (!child || m_slots[k]->g.load(std::memory_order_acquire) != m_found[i].first) continue;
            const goroutine_sample record_state = m_found[i].second;
            goroutine_sample& record = m_found[i].second;
            record.reason = "join";
            record.waited_ms = 0;
            record.running = false;
            for (bool innermost = true; child; child = child->queue_next, innermost = false) {
                goroutine_sample s = sample(child);
                s.reason = innermost ? record_state.reason : "join";
                s.waited_ms = innermost ? record_state.waited_ms : 0;
                s.running = innermost && record_state.running;
                m_found.emplace_back(child, s);
            }
        }
    }

    // The goroutines found, each once (its last copy: a later read is the
    // more recent state), in no particular order.
    void take(std::vector<goroutine_sample>& out) {
        // By address, the copies of one goroutine in the order they were
        // read (an index sort: std::stable_sort's buffer is deprecated API
        // under clang -Werror).
        std::vector<std::size_t> order(m_found.size());
        for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
        std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
            return m_found[a].first != m_found[b].first ? m_found[a].first < m_found[b].first : a < b;
        });
        for (std::size_t k = 0; k < order.size(); ++k)
            if (k + 1 == order.size() || m_found[order[k + 1]].first != m_found[order[k]].first)
                out.push_back(m_found[order[k]].second);
    }

private:
    goroutine_sample sample(goroutine* g) const {
        goroutine_sample s;
        s.id = g->id;
        // relaxed: diagnostic fields, written by the goroutine as it parks.
        s.reason = g->wait_reason.load(std::memory_order_relaxed);
        // Exact across the clock's wrap, the trace flag masked (goroutine.hpp).
        if (s.reason) s.waited_ms = wait_ms_between(g->wait_since_ms.load(std::memory_order_relaxed), m_now);
        s.running = std::find(m_running.begin(), m_running.end(), g) != m_running.end();
        s.is_main = g->id == k_main_goroutine_id;  // not kind: see k_main_goroutine_id
        s.spawn_site = g->spawn_site;
        return s;
    }
    void copy(goroutine* g) { m_found.emplace_back(g, sample(g)); }
    // sched_lock held (queue_next is the queue's, guarded by it).
    void copy_global_queue() {
        for (goroutine* g = m_rt.global_head; g; g = g->queue_next) copy(g);
    }

    runtime_state& m_rt;
    const bool m_sched_lock_held;
    std::vector<registry_slot*> m_slots;  // a pass's registered goroutines' slots, in order
    std::vector<goroutine*> m_running;
    const std::uint32_t m_now = read_wait_clock_ms();
    std::vector<std::pair<goroutine*, goroutine_sample>> m_found;
};

// Copies every live goroutine into `out` with the world stopped or every
// processor asleep: no transit can be under way (each ends before its
// processor runs a task, parks or stops at the loop's top), one pass.
void copy_goroutines_quiet(runtime_state& rt, std::vector<goroutine_sample>& out, bool sched_lock_held) {
    goroutine_copier copier(rt, out.capacity(), sched_lock_held);
    copier.pass();
    copier.take(out);
}

// The same under the dump pin, the processors running: a pass, then, if a
// transit overlapped it, the wait for its end and a second pass (see
// goroutine_copier).
void copy_goroutines_pinned(runtime_state& rt, std::vector<goroutine_sample>& out, bool sched_lock_held) {
    goroutine_copier copier(rt, 2 * out.capacity(), sched_lock_held);
    // acquire: a transit's even value orders its arrival before our reads.
    std::vector<std::uint64_t> before;
    before.reserve(rt.procs.size());
    for (auto& p : rt.procs) before.push_back(p->transit_epoch.load(std::memory_order_acquire));
    copier.pass();
    bool again = false;
    for (std::size_t i = 0; i < rt.procs.size(); ++i) {
        std::atomic<std::uint64_t>& epoch = rt.procs[i]->transit_epoch;
        const std::uint64_t after = epoch.load(std::memory_order_acquire);
        if (after == before[i] && !(after & 1)) continue;  // no transit during the pass
        again = true;
        // A transit under way as the pass ended: wait for its end (a few
        // instructions, unless the OS preempted its thread).
        if (after & 1)
            while (epoch.load(std::memory_order_acquire) == after) std::this_thread::yield();
    }
    if (again) copier.pass();
    copier.take(out);
}

// Holds the registries' goroutines alive: finishers wait in
// dump_finish_point while it lives (after heavy_fence: see the top of this
// file).
class dump_pin {
public:
    explicit dump_pin(runtime_state& rt) : m_rt(rt) {
        // seq_cst: the store half of the Dekker pair (see the top of this file).
        m_rt.dump_readers.fetch_add(1, std::memory_order_seq_cst);
    }
    ~dump_pin() {
        // release: orders the reads before a waiting finisher's free.
        m_rt.dump_readers.fetch_sub(1, std::memory_order_release);
        m_rt.dump_readers.notify_all();
    }
    dump_pin(const dump_pin&) = delete;
    dump_pin& operator=(const dump_pin&) = delete;

private:
    runtime_state& m_rt;
};

// Asks every processor to stop and waits until each is stopped or parked
// (at most `patience`); `self`: the caller is a processor of rt (it counts as
// stopped: it runs the dump, not goroutines). Returns whether the world did stop.
bool stop_the_world(runtime_state& rt, std::chrono::milliseconds patience, unsigned self, unsigned lost_self = 0);

// Lets the processors stopped by stop_the_world run again.
void restart_the_world(runtime_state& rt) noexcept {
    {
        // Under stw_lock: world_stop_point's predicate reads the flag there.
        // release: pairs with find_runnable's acquire load (a processor that
        // was parked, not stopped, through the dump).
        std::lock_guard guard(rt.stw_lock);
        rt.stop_world.store(false, std::memory_order_release);
    }
    rt.stw_cv.notify_all();
}

// Serializes the dumps that stop the world (two would each wait for the
// other's processor). The pinned path needs no lock.
std::mutex g_stw_dump_lock;

}  // namespace

void force_dump_stop_the_world(bool on) noexcept { g_force_stop_the_world.store(on, std::memory_order_relaxed); }

std::vector<goroutine_sample> sample_goroutines(runtime_state& rt, bool world_quiet, bool sched_lock_held) {
    std::vector<goroutine_sample> out;
    // Rough room for everyone, so that the copy under the pin rarely grows it.
    std::int64_t live = rt.external_live.load(std::memory_order_relaxed);
    for (auto& p : rt.procs) live += p->live_delta.load(std::memory_order_relaxed);
    out.reserve(static_cast<std::size_t>(std::max<std::int64_t>(live, 0)) + 16);
    if (membarrier_ready()) {
        const dump_pin pin(rt);
        if (heavy_fence()) {
            copy_goroutines_pinned(rt, out, sched_lock_held);
            std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
            return out;
        }
    }
    if (world_quiet) {
        copy_goroutines_quiet(rt, out, sched_lock_held);
    } else {
        // The caller's processor is held for the whole stop, so that the
        // monitor cannot hand it off meanwhile (the dump does not suspend).
        const processor_scope held(current_processor(), current_machine());
        processor* self = held.get();
        if (self && &self->rt != &rt) self = nullptr;
        // A processor waiting here for another dump must let that dump stop
        // it: it stops at the flag instead of blocking on the lock.
        std::unique_lock serial(g_stw_dump_lock, std::defer_lock);
        while (!serial.try_lock()) {
            if (self && rt.stop_world.load(std::memory_order_relaxed))
                world_stop_point(rt);
            else
                std::this_thread::yield();
        }
        const bool stopped = stop_the_world(rt, std::chrono::seconds(1), self ? 1 : 0, held.lost() ? 1 : 0);
        struct restart {
            runtime_state& rt;
            ~restart() { restart_the_world(rt); }
        } guard{rt};
        if (!stopped)
            throw runtime_error(
                "goro::dump: a processor (or a thread whose processor was handed off) runs a task that does "
                "not suspend, and membarrier(2) is not available to read the tasks safely while it runs");
        copy_goroutines_quiet(rt, out, sched_lock_held);
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
    return out;
}

registered_sample sample_registered_goroutine(runtime_state& rt, const goroutine* g, goroutine_sample& out) {
    if (!g) return registered_sample::gone;
    if (!membarrier_ready()) return registered_sample::unreadable;
    const dump_pin pin(rt);
    if (!heavy_fence()) return registered_sample::unreadable;
    bool found = false;
    // Pointers compared only until g is found among the registered: then,
    // under the pin, its frame cannot be freed while we read it.
    auto look = [&](goroutine* r, registry_slot& slot) {
        if (r != g) return;
        found = true;
        out.id = r->id;
        out.is_main = r->id == k_main_goroutine_id;
        out.spawn_site = r->spawn_site;
        // What runs is the innermost child run in place in g's run, if any
        // (acquire: as goroutine_copier reads the chain; alive under the pin).
        if (goroutine* child = slot.in_place_child.load(std::memory_order_acquire)) {
            out.id = child->id;
            out.is_main = false;
            out.spawn_site = child->spawn_site;
        }
    };
    {
        std::lock_guard guard(rt.external_lock);
        rt.external_goroutines.for_each_slot(look);
    }
    for (auto& p : rt.procs) p->goroutines.for_each_slot(look);
#if defined(GORO_CHECK_INVARIANTS)
    // Checked builds (the tests' sanitizer runs) hold the pin longer, so
    // that finishers often wait for it: a broken protocol then shows as an
    // ASan or TSan report in tests/sysmon_test.cpp, not as a rare race.
    std::this_thread::sleep_for(std::chrono::microseconds(50));
#endif
    return found ? registered_sample::found : registered_sample::gone;
}

void wait_for_dump_readers(runtime_state& rt) noexcept {
    // acquire: pairs with the dump's release decrement (see dump_finish_point).
    for (unsigned v = rt.dump_readers.load(std::memory_order_acquire); v != 0;
         v = rt.dump_readers.load(std::memory_order_acquire))
        rt.dump_readers.wait(v, std::memory_order_acquire);
}

std::string format_goroutines(const std::vector<goroutine_sample>& samples) {
    std::string out;
    for (const goroutine_sample& s : samples) {
        std::string state = s.reason ? s.reason : s.running ? "running" : "runnable";
        // Go prints ", N minutes" from a minute on; seconds are goro's addition.
        if (s.reason && s.waited_ms >= 60'000)
            state += fmt::format(", {} minutes", s.waited_ms / 60'000);
        else if (s.reason && s.waited_ms >= 1'000)
            state += fmt::format(", {} seconds", s.waited_ms / 1'000);
        out += fmt::format("\ngoroutine {} [{}]:\n", s.id, state);
        if (s.is_main)
            out += "\tmain task (goro::run)\n";
        else
            out += fmt::format("\tspawned at {}:{} in {}\n", s.spawn_site.file_name(), s.spawn_site.line(),
                               readable_function(s.spawn_site.function_name()));
    }
    return out;
}

std::string describe_goroutines(runtime_state& rt, bool stopped, bool sched_lock_held) {
    (void)stopped;  // not stopped and no membarrier: a racy copy (SIGQUIT says so)
    try {
        return format_goroutines(sample_goroutines(rt, true, sched_lock_held));
    } catch (const std::exception& e) {
        return fmt::format("\n(no goroutine list: {})\n", e.what());
    }
}

void world_exit_point(runtime_state& rt) noexcept {
    {
        std::lock_guard guard(rt.stw_lock);
        ++rt.stw_stopped;  // never decremented: this processor runs nothing again
    }
    rt.stw_cv.notify_all();
}

void world_stop_point(runtime_state& rt) noexcept {
    std::unique_lock guard(rt.stw_lock);
    ++rt.stw_stopped;
    rt.stw_cv.notify_all();
    rt.stw_cv.wait(guard, [&] { return !rt.stop_world.load(std::memory_order_relaxed); });
    --rt.stw_stopped;
}

namespace {

// The eventfd the handler writes to; -1 when no dumper is installed.
std::atomic<int> g_quit_fd{-1};

void on_sigquit(int) {
    const int saved_errno = errno;
    const int fd = g_quit_fd.load(std::memory_order_relaxed);
    if (fd >= 0) {
        const std::uint64_t one = 1;
        [[maybe_unused]] const ssize_t n = ::write(fd, &one, sizeof one);
    }
    errno = saved_errno;
}

bool stop_the_world(runtime_state& rt, std::chrono::milliseconds patience, unsigned self, unsigned lost_self) {
    {
        // Every processor's netpoll exists once it has reported its start
        // (under startup_lock; a failed start reports too, and then the run
        // ends without running anything).
        std::unique_lock guard(rt.startup_lock);
        rt.startup_cv.wait(guard, [&] { return rt.started >= rt.nprocs; });
        if (!rt.startup_failure.empty()) return false;
    }
    // seq_cst: ordered before the idle count read below; a processor leaving
    // the idle list afterwards re-checks the flag before running anything.
    rt.stop_world.store(true, std::memory_order_seq_cst);
    for (auto& p : rt.procs) {
        // Parked processors need not wake, but waking them is harmless and
        // lets them stop at the flag rather than race past it later.
        if (!p->wake_pending.exchange(true, std::memory_order_acq_rel)) p->netpoll->wake();
    }
    // Parked processors count as stopped: one that wakes up leaves the idle
    // list (under sched_lock) and checks the flag before running anything.
    // The idle count changes without notifying stw_cv, hence the polling.
    const auto give_up = std::chrono::steady_clock::now() + patience;
    for (;;) {
        unsigned idle;
        {
            std::lock_guard guard(rt.sched_lock);
            idle = rt.npidle.load(std::memory_order_relaxed);
        }
        std::unique_lock guard(rt.stw_lock);
        // A thread whose processor was handed off runs its task on without
        // one (runtime/handoff.cpp), and stopping the processors does not
        // stop it: it may finish goroutines and free their frames. The
        // world is stopped once no such thread is left but the caller
        // (lost_self). No new one appears meanwhile: the monitor hands off
        // only a processor that runs a task, and none does (the caller
        // holds its own in a processor_scope). seq_cst: as the hand-off's
        // increment.
        if (rt.stw_stopped + idle + self >= rt.nprocs && rt.nlost.load(std::memory_order_seq_cst) <= lost_self)
            return true;
        if (std::chrono::steady_clock::now() >= give_up) return false;
        rt.stw_cv.wait_for(guard, std::chrono::milliseconds(5));
    }
}

}  // namespace

struct quit_signal_dumper::impl {
    runtime_state& rt;
    int fd = -1;
    struct sigaction previous {};
    std::atomic<bool> closing{false};
    std::thread thread;

    explicit impl(runtime_state& r) : rt(r) {}

    void loop() {
        for (;;) {
            std::uint64_t value = 0;
            const ssize_t n = ::read(fd, &value, sizeof value);
            if (n < 0 && errno == EINTR) continue;
            if (closing.load(std::memory_order_acquire)) return;
            if (n != sizeof value) continue;
            dump_and_exit();  // the world is never restarted: Go exits too
        }
    }

    [[noreturn]] void dump_and_exit() {
        const bool stopped = stop_the_world(rt, std::chrono::seconds(1), 0);
        std::string out = "SIGQUIT: quit\n";
        out += "netpoll: ";
        out += rt.netpoll_name;
        out += "\n";
        // A task that runs on after its processor was handed off never
        // stops either (runtime/handoff.cpp).
        if (!stopped || rt.nlost.load(std::memory_order_relaxed) != 0)
            out += "(some processor is running a goroutine that does not suspend; the list below is a racy "
                   "snapshot)\n";
        out += describe_goroutines(rt, stopped);
        fatal_exit(out);
    }
};

quit_signal_dumper::quit_signal_dumper(runtime_state& rt) {
    {
        // Only where SIGQUIT has its default action and no goro::signal
        // watch has it: the program's own handling wins.
        struct sigaction current {};
        if (::sigaction(SIGQUIT, nullptr, &current) != 0 || current.sa_handler != SIG_DFL ||
            (current.sa_flags & SA_SIGINFO))
            return;  // the program handles (or ignores) SIGQUIT itself
    }
    auto* state = new impl(rt);
    state->fd = ::eventfd(0, EFD_CLOEXEC);
    if (state->fd < 0) {
        delete state;
        return;  // no dump on SIGQUIT; never a reason to fail the run
    }
    try {
        state->thread = std::thread([state] { state->loop(); });
    } catch (...) {
        ::close(state->fd);
        delete state;
        return;
    }
    g_quit_fd.store(state->fd, std::memory_order_relaxed);
    // Checks again and installs under goro::signal's lock (signal_watch.hpp),
    // so that a watch of SIGQUIT made meanwhile wins and records our handler
    // as the one it replaced.
    if (!install_default_signal_handler(SIGQUIT, on_sigquit, &state->previous)) {
        g_quit_fd.store(-1, std::memory_order_relaxed);
        state->closing.store(true, std::memory_order_release);
        const std::uint64_t one = 1;
        [[maybe_unused]] const ssize_t n = ::write(state->fd, &one, sizeof one);
        state->thread.join();
        ::close(state->fd);
        delete state;
        return;
    }
    m_impl = state;
}

quit_signal_dumper::~quit_signal_dumper() {
    if (!m_impl) return;
    // Puts back what was there before, unless a goro::signal watch of SIGQUIT
    // is in place: that watch then puts it back when it stops.
    remove_default_signal_handler(SIGQUIT, on_sigquit, m_impl->previous);
    g_quit_fd.store(-1, std::memory_order_relaxed);
    m_impl->closing.store(true, std::memory_order_release);
    const std::uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = ::write(m_impl->fd, &one, sizeof one);
    m_impl->thread.join();
    ::close(m_impl->fd);
    delete m_impl;
}

}  // namespace goro::detail
