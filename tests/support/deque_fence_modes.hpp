// for_each_deque_fence_mode: runs `body(mode)` with GORO_DEBUG set to each
// of the deques' two fence modes in turn: the environment's own setting
// (the asymmetric mode: thieves fence with membarrier, owners do not), then
// that setting plus stealfence=0 (owners fence). The environment's
// GORO_DEBUG (the sanitizer runs set framepool=0) is kept in both, and put
// back after.
#pragma once

#include <cstdlib>
#include <string>

namespace goro_test {

template <typename Body>
void for_each_deque_fence_mode(Body body) {
    const char* env = std::getenv("GORO_DEBUG");
    const std::string saved = env ? env : "";
    struct restore {
        bool had;
        std::string value;
        ~restore() {
            if (had)
                ::setenv("GORO_DEBUG", value.c_str(), 1);
            else
                ::unsetenv("GORO_DEBUG");
        }
    } restore_after{env != nullptr, saved};
    for (const std::string& mode : {saved, saved + (saved.empty() ? "" : ",") + "stealfence=0"}) {
        ::setenv("GORO_DEBUG", mode.c_str(), 1);
        body(mode);
    }
}

}  // namespace goro_test
