// Compiled, never run (clang only; tests/meson.build): goro::task under
// GORO_CORO_LIFETIME_CHECKS (runtime/task.hpp). Without EXPECT_DANGLING the
// file must compile with -Werror: goro's headers and the forms the README
// calls safe raise nothing. With EXPECT_DANGLING it must fail, and the only
// lines it adds are the two stores clang 19's -Wdangling flags:
//
//     warning: temporary whose address is used as value of local variable 't'
//              will be destroyed at the end of the full-expression [-Wdangling]
//
// What clang does not flag (no test can expect a warning that never comes):
// goro::go(print(std::string("x"))) and goro::go([x]() -> goro::task<> {...}()),
// where the temporary dies at the end of the statement that hands the task to
// go. goro::go(f, args...) is the remedy for those.
#define GORO_CORO_LIFETIME_CHECKS 1
#include <goro/goro.hpp>

#include <string>

namespace {

goro::task<> print(const std::string& s) {
    (void)s.size();
    co_return;
}

[[maybe_unused]] goro::task<> safe_forms() {
    const std::string name = "lvalue";
    goro::task<> a = print(name);                    // an lvalue that outlives the task
    co_await std::move(a);
    co_await print(std::string("awaited at once"));  // the temporary outlives the await
    goro::go([x = 1]() -> goro::task<> {             // the frame owns the closure
        (void)x;
        co_return;
    });
    goro::go([](const std::string& s) -> goro::task<> {
        (void)s;
        co_return;
    }, std::string("the frame owns a copy"));
    auto h = goro::spawn([] { return 3; });
    (void)co_await std::move(h);
}

#ifdef EXPECT_DANGLING
[[maybe_unused]] goro::task<> dangling_forms() {
    goro::task<> t = print(std::string("dies at the semicolon"));
    goro::task<> u = [x = 1]() -> goro::task<> {
        (void)x;
        co_return;
    }();
    co_await std::move(t);
    co_await std::move(u);
}
#endif

}  // namespace
