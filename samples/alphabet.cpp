// alphabet — concurrency vs. parallelism, after "Go in Action" chapter 6.
//
// Two tasks print the alphabet, one in lower case and one in upper case.
// First on ONE logical processor: they cannot run at the same time, so they
// take turns at every goro::yield() (concurrency). Then on TWO: each task gets
// its own worker thread and they run at the same time (parallelism). Every
// line says which OS thread printed it.
//
// Run: build-release/samples/alphabet
#include <goro/goro.hpp>

#include <fmt/core.h>

#include <chrono>
#include <mutex>
#include <unistd.h>  // gettid
#include <string>

namespace {

std::mutex g_print_lock;  // keeps lines whole when two threads print at once

// Stands in for real work between two prints (a few milliseconds of CPU).
void busy_work() {
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(3);
    while (std::chrono::steady_clock::now() < until) {}
}

std::string thread_name() { return fmt::format("OS thread {}", static_cast<long>(::gettid())); }  // the kernel's thread id, as top -H shows it

goro::task<> print_alphabet(char first) {
    for (int round = 0; round < 3; ++round) {
        std::string line;
        for (char c = first; c < first + 26; ++c) line += c;
        {
            std::lock_guard guard(g_print_lock);
            fmt::print("{}  ({})\n", line, thread_name());
        }
        busy_work();
        co_await goro::yield();  // let the other task have the processor
    }
}

goro::task<int> main_task() {
    fmt::print("-- {} logical processor(s)\n", goro::procs());
    auto lower = goro::spawn(print_alphabet('a'));
    auto upper = goro::spawn(print_alphabet('A'));
    co_await std::move(lower);  // wait for both, like a sync.WaitGroup
    co_await std::move(upper);
    co_return 0;
}

}  // namespace

int main() {
    goro::run(main_task(), {.procs = 1});  // concurrency: interleaved, one thread
    goro::run(main_task(), {.procs = 2});  // parallelism: two threads at once
    return 0;
}
