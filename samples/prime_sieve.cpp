// prime_sieve — the concurrent prime sieve from the Go tour / Go spec
// examples: a generator sends 2, 3, 4, ... down a channel; each prime found
// gets a filter task that passes on only the numbers it does not divide.
// The chain of filters grows as primes are found.
//
// Shows: a pipeline of tasks connected by unbuffered channels, thousands of
// cheap tasks, and a program that finishes while tasks are still blocked
// (goro::run returns when main does and destroys the rest, as Go exits).
//
// Run: build-dir/samples/prime_sieve [N=100]     prints the first N primes
#include <cstdio>
#include <cstdlib>

#include <goro/goro.hpp>

namespace {

// Sends 2, 3, 4, ... to ch.
goro::task<> generate(goro::chan<int> ch) {
    for (int i = 2;; ++i) co_await ch.send(i);
}

// Copies values from in to out, removing those divisible by prime.
goro::task<> filter(goro::chan<int> in, goro::chan<int> out, int prime) {
    for (;;) {
        const int i = *co_await in.recv();
        if (i % prime != 0) co_await out.send(i);
    }
}

goro::task<int> sieve(int n) {
    goro::chan<int> ch;
    goro::go(generate(ch));
    long sum = 0;
    for (int i = 0; i < n; ++i) {
        const int prime = *co_await ch.recv();
        std::printf("%d%c", prime, (i + 1) % 10 == 0 || i + 1 == n ? '\n' : ' ');
        sum += prime;
        goro::chan<int> next;
        goro::go(filter(ch, next, prime));
        ch = next;
    }
    std::printf("sum of the first %d primes: %ld\n", n, sum);
    co_return 0;
}

}  // namespace

int main(int argc, char** argv) {
    const int n = argc > 1 ? std::atoi(argv[1]) : 100;
    if (n < 1) {
        std::fprintf(stderr, "usage: prime_sieve [N>=1]\n");
        return 2;
    }
    return goro::run(sieve(n));
}
