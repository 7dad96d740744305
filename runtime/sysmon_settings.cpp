// The monitor's settings (detail/sysmon.hpp's sysmon_settings): the time
// slice from options::time_slice, and GORO_DEBUG's timeslice=<ms>,
// stuck=<ms>, handoff=0, stealfence=0 and pollspin=0, read once when a run starts.
#include <fmt/core.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "detail/sysmon.hpp"
#include "error.hpp"
#include "run.hpp"

namespace goro::detail {
namespace {

// Settings above this many milliseconds (11 days) are taken as "never".
constexpr std::int64_t k_max_setting_ms = 1'000'000'000;

// ---- GORO_DEBUG ----

// The value of `key=value` among GORO_DEBUG's comma-separated settings.
std::optional<std::string_view> debug_value(std::string_view key) {
    const char* env = std::getenv("GORO_DEBUG");
    if (!env) return std::nullopt;
    std::string_view rest(env);
    while (!rest.empty()) {
        const std::size_t comma = rest.find(',');
        const std::string_view item = rest.substr(0, comma);
        rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
        if (item.size() > key.size() && item.compare(0, key.size(), key) == 0 && item[key.size()] == '=')
            return item.substr(key.size() + 1);
    }
    return std::nullopt;
}

// GORO_DEBUG=<key>=<ms>: the milliseconds, or -1 when the key is absent.
std::int64_t debug_ms(std::string_view key) {
    const auto value = debug_value(key);
    if (!value) return -1;
    std::int64_t ms = -1;
    const char* end = value->data() + value->size();
    const auto [ptr, ec] = std::from_chars(value->data(), end, ms);
    if (ec != std::errc{} || ptr != end || ms < 0)
        throw bad_configuration(fmt::format("goro: GORO_DEBUG {}={:?} is not a number of milliseconds", key,
                                            std::string(*value)));
    return std::min(ms, k_max_setting_ms);
}

}  // namespace

sysmon_settings read_sysmon_settings(const options& opts) {
    if (opts.time_slice.count() < 0)
        throw bad_configuration(fmt::format("goro::run: options::time_slice ({} ms) is negative",
                                            opts.time_slice.count()));
    sysmon_settings s;
    s.slice_ns = std::min<std::int64_t>(opts.time_slice.count(), k_max_setting_ms) * 1'000'000;
    if (const std::int64_t ms = debug_ms("timeslice"); ms >= 0) s.slice_ns = ms * 1'000'000;
    if (const std::int64_t ms = debug_ms("stuck"); ms > 0) s.stuck_ns = ms * 1'000'000;
    // handoff=1 (or any other value): on, as by default.
    if (debug_ms("handoff") == 0) s.handoff = false;
    // stealfence=0: the deques' owners fence, not the thieves.
    if (debug_ms("stealfence") == 0) s.asymmetric_steals = false;
    // pollspin=0: processors park at once when they run out of work.
    if (debug_ms("pollspin") == 0) s.poll_spin = false;
    return s;
}

}  // namespace goro::detail
