// Panics and fatal errors: the ways goro ends a process (detail/fatal.hpp).

#include <fmt/core.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

#include "detail/fatal.hpp"
#include "detail/scheduler_state.hpp"
#include "error.hpp"

namespace goro::detail {
namespace {

std::string what_of(const std::exception_ptr& error) {
    try {
        std::rethrow_exception(error);
    } catch (const std::exception& e) {
        return e.what();
    } catch (...) {
        return "(unknown exception type)";
    }
}

// The main task's exception that run() rethrew last, and where run() was
// called. Written by run() (one runtime at a time), read by the terminate
// handler on whatever thread terminates: a racy read at worst prints the
// exception without its goroutine line.
std::exception_ptr g_main_exception;
std::source_location g_main_site;

std::terminate_handler g_previous_terminate = nullptr;

[[noreturn]] void on_terminate() noexcept {
    const std::exception_ptr error = std::current_exception();
    if (error) {
        if (error == g_main_exception) {
            fatal_exit(fmt::format("panic: {}\n\ngoroutine 1 [running]:\n\tthe main task of goro::run at {}:{} in {}\n",
                                   what_of(error), g_main_site.file_name(), g_main_site.line(),
                                   g_main_site.function_name()));
        }
        try {
            std::rethrow_exception(error);
        } catch (const bad_configuration& e) {
            fatal_exit(fmt::format("{}\n", e.what()));
        } catch (const startup_error& e) {
            fatal_exit(fmt::format("{}\n", e.what()));
        } catch (const runtime_error& e) {
            fatal_exit(fmt::format("panic: {}\n", e.what()));
        } catch (...) {
            // Not goro's: the program's own terminate behaviour applies.
        }
    }
    if (g_previous_terminate) g_previous_terminate();
    std::abort();
}

}  // namespace

void fatal_exit(std::string_view message) noexcept {
    std::fwrite(message.data(), 1, message.size(), stderr);
    std::fflush(nullptr);  // every stream: what the program printed is not lost
    std::_Exit(2);
}

void install_uncaught_handler() noexcept {
    static std::once_flag once;
    std::call_once(once, [] { g_previous_terminate = std::set_terminate(&on_terminate); });
}

void note_main_exception(std::exception_ptr error, const std::source_location& site) noexcept {
    g_main_site = site;
    g_main_exception = std::move(error);
}

void panic(const std::source_location& site, std::uint64_t id, std::exception_ptr error) noexcept {
    runtime_state* rt = current_runtime();
    if (rt && rt->opts.panic_handler) {
        try {
            rt->opts.panic_handler(panic_info{error, site, id});
            return;
        } catch (...) {
            error = std::current_exception();  // the handler itself threw: that is the panic
        }
    }
    fatal_exit(fmt::format("panic: {}\n\ngoroutine {} [running]:\n\tspawned at {}:{} in {}\n", what_of(error), id,
                           site.file_name(), site.line(), site.function_name()));
}

}  // namespace goro::detail
