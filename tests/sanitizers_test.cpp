// runtime/detail/sanitizers.hpp: its answer matches the sanitizers this
// build was configured with (meson's b_sanitize, passed in by
// tests/meson.build), with g++ and with clang, which spell the question
// differently.
#include <catch2/catch.hpp>

#include <string_view>

#include <goro/runtime/detail/sanitizers.hpp>
#include <goro/runtime/detail/tail_calls.hpp>

namespace {
constexpr std::string_view configured = GORO_BUILD_SANITIZE;
constexpr bool configured_with(std::string_view name) { return configured.find(name) != std::string_view::npos; }
}  // namespace

TEST_CASE("sanitizers.hpp: GORO_TSAN and GORO_ASAN match the build's b_sanitize", "[sanitizers]") {
    INFO("b_sanitize=" << configured);
    CHECK(static_cast<bool>(GORO_TSAN) == configured_with("thread"));
    CHECK(static_cast<bool>(GORO_ASAN) == configured_with("address"));
    // What the answer decides: where a sanitizer instruments the code,
    // symmetric transfer may not be a tail call (tail_calls.hpp).
    if (configured_with("thread") || configured_with("address")) CHECK(GORO_TAIL_CALLS == 0);
}
