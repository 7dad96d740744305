// error_of: awaits what `make()` returns and gives the message of the
// exception it threw: a goro::runtime_error's as it is, any other's after
// "other: ", or "no exception". For tests that check a refusal
// (a range too long, an empty task) one awaitable after another:
//
//     what += co_await goro_test::error_of([&] { return goro::join_all<2>(three); });
#pragma once

#include <exception>
#include <string>

#include <goro/goro.hpp>

namespace goro_test {

// `make` is called inside the try, so that an exception from building the
// awaitable (an fj::all or join_all refusing its tasks) is caught too.
template <typename Make>
goro::task<std::string> error_of(Make make) {
    std::string what = "no exception";
    try {
        (void)co_await make();
    } catch (const goro::runtime_error& e) {
        what = e.what();
    } catch (const std::exception& e) {
        what = std::string("other: ") + e.what();
    }
    co_return what;
}

}  // namespace goro_test
