// skynet (join-based): a tree of 1,000,000 leaf tasks, 10 children per node.
// Every node but the root is a goroutine started with goro::spawn; a parent
// sums its children's results through their join handles.
// Twin: peers/go/skynet. Prints: skynet_1m <median of 5 runs after 1 warm-up> ms
#include <goro/goro.hpp>

#include "bench_util.hpp"

namespace {

constexpr std::int64_t k_leaves = 1'000'000;
constexpr std::int64_t k_div = 10;

goro::task<std::int64_t> node(std::int64_t num, std::int64_t size) {
    if (size == 1) co_return num;
    const std::int64_t sub = size / k_div;
    goro::join_handle<std::int64_t> children[k_div];
    for (std::int64_t i = 0; i < k_div; ++i) children[i] = goro::spawn(node(num + i * sub, sub));
    std::int64_t sum = 0;
    for (auto& child : children) sum += co_await std::move(child);
    co_return sum;
}

goro::task<int> bench_main() {
    std::vector<double> times;
    for (int run = 0; run < 6; ++run) {
        const auto start = std::chrono::steady_clock::now();
        const std::int64_t sum = co_await node(0, k_leaves);
        const double ms = bench::ms_since(start);
        if (sum != 499'999'500'000) bench::fail(fmt::format("skynet: wrong sum {}", sum));
        if (run > 0) times.push_back(ms);
    }
    bench::figure("skynet_1m", bench::median(times), "ms");
    co_return 0;
}

}  // namespace

int main() { return goro::run(bench_main()); }
