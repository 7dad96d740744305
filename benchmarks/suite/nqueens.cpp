// Port of tzcnt/runtime-benchmarks' nqueens: count the placements of 14
// queens, a task per partial board. A node spawns one goroutine per safe
// column of the next row (each with its own copy of the board) and joins
// them in spawn order. Warm-up run, then one timed run. Usage:
// suite_nqueens [THREADS]
#include <goro/goro.hpp>

#include <array>

#include "suite_util.hpp"

namespace {

constexpr int k_n = 14;
constexpr int k_answer = 365'596;  // placements of 14 queens
using board = std::array<char, k_n>;

goro::task<int> nqueens(int row, board b) {
    if (row == k_n) co_return 1;
    std::array<goro::join_handle<int>, k_n> children;
    int spawned = 0;
    for (int col = 0; col < k_n; ++col) {
        bool safe = true;
        for (int r = 0; r < row && safe; ++r) {
            const int placed = b[r];
            safe = col != placed && col != placed - (row - r) && col != placed + (row - r);
        }
        if (!safe) continue;
        b[row] = static_cast<char>(col);
        children[spawned++] = goro::spawn(nqueens(row + 1, b));
    }
    int count = 0;
    for (int i = 0; i < spawned; ++i) count += co_await std::move(children[i]);
    co_return count;
}

goro::task<int> run_once() {
    const int result = co_await nqueens(0, board{});
    if (result != k_answer) {
        std::printf("error: expected %d, got %d\n", k_answer, result);
        co_return -1;
    }
    co_return result;
}

goro::task<int> bench_main() {
    if (co_await run_once() < 0) co_return 1;  // warm-up
    const auto start = std::chrono::steady_clock::now();
    const int result = co_await run_once();
    if (result < 0) co_return 1;
    std::printf("output: %d\n", result);
    suite::print_run(1, start);
    co_return 0;
}

}  // namespace

int main(int argc, char** argv) {
    const unsigned threads = suite::thread_count(argc, argv);
    suite::print_threads(threads);
    return goro::run(bench_main(), {.procs = threads});
}
