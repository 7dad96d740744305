// goro::dump and goro::goroutines (dump.hpp), on top of the goroutine
// sampler in goroutine_dump.cpp.

#include "dump.hpp"

#include "detail/foreign_entry.hpp"
#include "detail/goroutine_dump.hpp"
#include "detail/scheduler_state.hpp"
#include "error.hpp"

namespace goro {

namespace {

std::vector<detail::goroutine_sample> sample(const char* api) {
    const detail::foreign_entry entry;  // keeps a runtime that is returning alive
    detail::runtime_state* rt = detail::current_runtime();
    if (!rt) throw no_runtime(api);
    return detail::sample_goroutines(*rt, false);
}

}  // namespace

std::vector<goroutine_record> goroutines() {
    std::vector<goroutine_record> out;
    for (const detail::goroutine_sample& s : sample("goro::goroutines")) {
        goroutine_record r;
        r.id = s.id;
        r.state = s.reason ? s.reason : s.running ? "running" : "runnable";
        if (s.reason) r.waiting = std::chrono::milliseconds(s.waited_ms);
        r.main = s.is_main;
        if (!s.is_main) {
            r.file = s.spawn_site.file_name();
            r.line = s.spawn_site.line();
            r.function = detail::readable_function(s.spawn_site.function_name());
        }
        out.push_back(std::move(r));
    }
    return out;
}

std::string dump_string() { return detail::format_goroutines(sample("goro::dump")); }

void dump(std::FILE* out) {
    const std::string text = dump_string();
    std::fwrite(text.data(), 1, text.size(), out);
    std::fflush(out);
}

void dump(const std::function<void(std::string_view)>& write) { write(dump_string()); }

}  // namespace goro
