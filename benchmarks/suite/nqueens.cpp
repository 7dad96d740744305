// Port of tzcnt/runtime-benchmarks' nqueens: count the placements of 14
// queens, a task per partial board. A node spawns one goroutine per safe
// column of the next row (each with its own copy of the board) and joins
// them in spawn order. suite_nqueens_bulk, built from this file with
// SUITE_JOIN_ALL, starts and joins a node's children with one
// goro::join_all<N> over a view that makes them instead (the form of
// TooManyCooks' spawn_many<N>(begin, end)); suite_nqueens_fj, with
// SUITE_JOIN_ALL and SUITE_FJ, with goro::fj::all<N> over the same view
// (children made goroutines only when a processor wants work). Warm-up
// run, then one timed run. Usage: suite_nqueens[_bulk|_fj] [THREADS [N]]; N (8 to
// 14, default the suite's 14) is for instruction counts under callgrind,
// where 14 queens take too long.
#include <goro/goro.hpp>

#include <array>
#include <ranges>

#include "suite_util.hpp"

namespace {

// Placements of N queens, by N.
constexpr std::array<int, 15> k_answers = {1, 1, 0, 0, 2, 10, 4, 40, 92, 352, 724, 2'680, 14'200, 73'712, 365'596};

template <int N>
using board = std::array<char, N>;

// Whether a queen at (row, col) is safe from those of rows 0 to row - 1.
// A plain function, as the suite's peers' filter lambdas: a coroutine's
// locals live in its frame, and g++ 12 stores them there on every
// iteration of a loop in the coroutine's body.
template <int N>
bool safe(const board<N>& b, int row, int col) {
    for (int r = 0; r < row; ++r) {
        const int placed = b[r];
        if (col == placed || col == placed - (row - r) || col == placed + (row - r)) return false;
    }
    return true;
}

template <int N>
goro::task<int> nqueens(int row, board<N> b) {
    if (row == N) co_return 1;
#ifdef SUITE_JOIN_ALL
    // TooManyCooks' shape: a view that makes a child per safe column, each
    // taken by fj::all or join_all as the view makes it (no array of tasks).
    std::size_t made = 0;
    auto children = std::views::iota(0, N) | std::views::filter([row, &b](int col) { return safe<N>(b, row, col); }) |
                    std::views::transform([row, &b, &made](int col) {
                        b[row] = static_cast<char>(col);
                        ++made;
                        return nqueens<N>(row + 1, b);
                    });
#ifdef SUITE_FJ
    const std::array<int, N> values = co_await goro::fj::all<N>(children);
#else
    const std::array<int, N> values = co_await goro::join_all<N>(children);
#endif
#endif
#ifdef SUITE_JOIN_ALL
    int count = 0;
    for (std::size_t i = 0; i < made; ++i) count += values[i];
#else
    std::array<goro::join_handle<int>, N> children;
    int spawned = 0;
    for (int col = 0; col < N; ++col) {
        if (!safe<N>(b, row, col)) continue;
        b[row] = static_cast<char>(col);
        children[spawned++] = goro::spawn(nqueens<N>(row + 1, b));
    }
    int count = 0;
    for (int i = 0; i < spawned; ++i) count += co_await std::move(children[i]);
#endif
    co_return count;
}

template <int N>
goro::task<int> run_once() {
    const int result = co_await nqueens<N>(0, board<N>{});
    if (result != k_answers[N]) {
        std::printf("error: expected %d, got %d\n", k_answers[N], result);
        co_return -1;
    }
    co_return result;
}

template <int N>
goro::task<int> bench_main() {
    if (co_await run_once<N>() < 0) co_return 1;  // warm-up
    const auto start = std::chrono::steady_clock::now();
    const int result = co_await run_once<N>();
    if (result < 0) co_return 1;
    std::printf("output: %d\n", result);
    suite::print_run(1, start);
    co_return 0;
}

}  // namespace

int main(int argc, char** argv) {
    const unsigned threads = suite::thread_count(argc, argv);
    const int n = argc > 2 ? std::atoi(argv[2]) : 14;
    suite::print_threads(threads);
    switch (n) {
        case 8: return goro::run(bench_main<8>(), {.procs = threads});
        case 9: return goro::run(bench_main<9>(), {.procs = threads});
        case 10: return goro::run(bench_main<10>(), {.procs = threads});
        case 11: return goro::run(bench_main<11>(), {.procs = threads});
        case 12: return goro::run(bench_main<12>(), {.procs = threads});
        case 13: return goro::run(bench_main<13>(), {.procs = threads});
        case 14: return goro::run(bench_main<14>(), {.procs = threads});
        default: std::fprintf(stderr, "usage: %s [THREADS [N]], N from 8 to 14\n", argv[0]); return 2;
    }
}
