// Port of tzcnt/runtime-benchmarks' matmul: C = A * B for N x N int
// matrices of ones (the suite passes N = 2048), by recursive divide and
// conquer. A block of side n > 32 splits into four quadrants and runs the
// eight quadrant products in two rounds of four; the four products of a
// round write four different quadrants of C, the second round adds into the
// same four, so a round must finish before the next starts. Each round
// spawns three products as goroutines, computes the fourth itself (awaited,
// as the suite's libfork port `call`s it) and joins the three in spawn
// order. Blocks of side 32 or less use the plain i-k-j triple loop.
// suite_matmul_bulk (built with SUITE_JOIN_ALL) starts and joins a round's
// four with one goro::join_all over an array of four, the form of
// TooManyCooks' spawn_tuple; suite_matmul_fj (with SUITE_JOIN_ALL and
// SUITE_FJ) awaits goro::fj::all of the four (children made goroutines
// only when a processor wants work), the closest of goro's forms to the
// libfork port's three forks and a call, and runs them in its order.
//
// As in the suite, the timed region allocates and fills the three matrices
// and multiplies; the check (every element of C equals N) runs after the
// clock stops, and a wrong element is reported and fails the program.
// Warm-up: one full multiply. Usage: suite_matmul N [THREADS]
#include <goro/goro.hpp>

#include <array>
#include <vector>

#include "suite_util.hpp"

namespace {

/// c += a * b for one n x n block; N is the row stride of all three. The
/// suite's own leaf (its matmul.hpp, which every peer's port includes),
/// int indices and all: the leaf is nearly all of the run (98 % of the
/// samples for goro and for libfork alike), so it is the same loop.
void multiply_block(const int* a, const int* b, int* c, int n, int N) {
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < n; k++) {
            for (int j = 0; j < n; j++) c[i * N + j] += a[i * N + k] * b[k * N + j];
        }
    }
}

goro::task<void> matmul(const int* a, const int* b, int* c, int n, int N);

/// One round: four quadrant products writing four different quadrants of C.
/// Three run as goroutines, the last in this task; then the three are joined.
struct product {
    const int* a;
    const int* b;
    int* c;
};

goro::task<void> product_task(const product& p, int k, int N) { return matmul(p.a, p.b, p.c, k, N); }

goro::task<void> round_of_four(const std::array<product, 4>& p, int k, int N) {
#if defined(SUITE_FJ)
    // Listed last first: fj::all runs its last child first when nobody
    // steals, so the products run first to last, the order of the libfork
    // port's child-first forks on one thread (2.5 % faster than the other
    // way on the AMD EPYC VM, 1 thread: benchmarks/RESULTS.md 2026-12-01
    // 04:00).
    co_await goro::fj::all(product_task(p[3], k, N), product_task(p[2], k, N), product_task(p[1], k, N),
                           product_task(p[0], k, N));
#elif defined(SUITE_JOIN_ALL)
    std::array<goro::task<void>, 4> tasks{product_task(p[0], k, N), product_task(p[1], k, N),
                                          product_task(p[2], k, N), product_task(p[3], k, N)};
    co_await goro::join_all(std::move(tasks));
#else
    std::array<goro::join_handle<void>, 3> children;
    for (std::size_t i = 0; i < 3; ++i) children[i] = goro::spawn(product_task(p[i], k, N));
    co_await product_task(p[3], k, N);
    for (auto& child : children) co_await std::move(child);
#endif
}

goro::task<void> matmul(const int* a, const int* b, int* c, int n, int N) {
    if (n <= 32) {
        multiply_block(a, b, c, n, N);
        co_return;
    }
    const int k = n / 2;
    const std::ptrdiff_t down = static_cast<std::ptrdiff_t>(k) * N;  // k rows further
    // C11 += A11 B11, C12 += A11 B12, C21 += A21 B11, C22 += A21 B12.
    const std::array<product, 4> first{{
        {a, b, c},
        {a, b + k, c + k},
        {a + down, b, c + down},
        {a + down, b + k, c + down + k},
    }};
    co_await round_of_four(first, k, N);
    // C11 += A12 B21, C12 += A12 B22, C21 += A22 B21, C22 += A22 B22.
    const std::array<product, 4> second{{
        {a + k, b + down, c},
        {a + k, b + down + k, c + k},
        {a + down + k, b + down, c + down},
        {a + down + k, b + down + k, c + down + k},
    }};
    co_await round_of_four(second, k, N);
}

/// Allocates A = B = ones, C = zeros, and multiplies.
goro::task<std::vector<int>> run_matmul(int N) {
    const auto cells = static_cast<std::size_t>(N) * static_cast<std::size_t>(N);
    std::vector<int> a(cells, 1);
    std::vector<int> b(cells, 1);
    std::vector<int> c(cells, 0);
    co_await matmul(a.data(), b.data(), c.data(), N, N);
    co_return c;
}

/// Every element of (ones * ones) is N.
bool check(const std::vector<int>& c, int N) {
    for (int i = 0; i < N; ++i) {
        for (int j = 0; j < N; ++j) {
            const int v = c[static_cast<std::size_t>(i) * static_cast<std::size_t>(N) + static_cast<std::size_t>(j)];
            if (v != N) {
                std::printf("Wrong result at (%d,%d) : %d. expected %d\n", i, j, v, N);
                return false;
            }
        }
    }
    return true;
}

goro::task<int> bench_main(int N) {
    {
        const std::vector<int> warm = co_await run_matmul(N);  // warm-up
        if (!check(warm, N)) co_return 1;
    }
    std::printf("runs:\n");
    const auto start = std::chrono::steady_clock::now();
    const std::vector<int> c = co_await run_matmul(N);
    const auto end = std::chrono::steady_clock::now();
    if (!check(c, N)) co_return 1;
    std::printf("  - matrix_size: %d\n", N);
    suite::print_duration_rss(suite::micros(start, end));
    co_return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::printf("Usage: matmul <matrix size (power of 2)>\n");
        return 0;
    }
    const int n = std::atoi(argv[1]);
    // A power of two (the recursion halves the side down to 32 or less) and
    // small enough that N * N ints fit in memory and every sum N in an int.
    if (n < 1 || n > 16384 || (n & (n - 1)) != 0) {
        std::fprintf(stderr, "suite_matmul: N must be a power of two in 1..16384\n");
        return 2;
    }
    // The thread count is the second argument here, as in the suite.
    const unsigned threads = argc > 2 ? suite::thread_count(2, argv + 1) : suite::thread_count(1, argv);
    suite::print_threads(threads);
    return goro::run(bench_main(n), {.procs = threads});
}
