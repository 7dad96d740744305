// The number of OS threads of this process (entries of /proc/self/task):
// the tests that check goro holds no thread per blocked task count them.
#pragma once

#include <dirent.h>

namespace goro_test {

inline int thread_count() {
    int n = 0;
    if (DIR* d = ::opendir("/proc/self/task")) {
        while (dirent* e = ::readdir(d))
            if (e->d_name[0] != '.') ++n;
        ::closedir(d);
    }
    return n;
}

}  // namespace goro_test
