// primes — cooperative scheduling, after "Go in Action" chapter 6 (listing 6.9).
//
// Two tasks search for primes up to 5,000 on ONE logical processor and print
// them. Go's scheduler pre-empts long-running goroutines, so their output
// interleaves; goro's tasks are stackless coroutines and are never
// pre-empted: a task keeps the processor until it suspends. Here each task
// yields every 500 candidates, so the output switches between them in
// blocks. Remove the yield and the first task prints everything before the
// second one starts.
//
// Run: build-release/samples/primes
#include <goro/goro.hpp>

#include <fmt/core.h>

#include <string>

namespace {

bool is_prime(int n) {
    if (n < 2) return false;
    for (int d = 2; d * d <= n; ++d)
        if (n % d == 0) return false;
    return true;
}

goro::task<int> print_primes(std::string prefix, int limit) {
    int found = 0;
    for (int n = 2; n <= limit; ++n) {
        if (is_prime(n)) {
            ++found;
            if (found % 50 == 0) fmt::print("{}: {} is prime #{}\n", prefix, n, found);
        }
        if (n % 500 == 0) co_await goro::yield();  // a cooperative scheduling point
    }
    fmt::print("{}: completed, {} primes\n", prefix, found);
    co_return found;
}

goro::task<int> main_task() {
    auto a = goro::spawn(print_primes("A", 5000));
    auto b = goro::spawn(print_primes("B", 5000));
    const int total = co_await std::move(a) + co_await std::move(b);
    fmt::print("terminating: {} primes found in all\n", total);
    co_return total == 2 * 669 ? 0 : 1;
}

}  // namespace

int main() { return goro::run(main_task(), {.procs = 1}); }
