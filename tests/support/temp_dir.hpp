// temp_dir: a fresh directory under the system's temporary directory,
// removed with everything in it when the object goes away.
//
//     goro_test::temp_dir tmp("goro-install");
//     std::ofstream(tmp.dir / "app.cpp") << text;
#pragma once

#include <catch2/catch.hpp>

#include <stdlib.h>

#include <filesystem>
#include <string>

namespace goro_test {

struct temp_dir {
    std::filesystem::path dir;

    explicit temp_dir(const std::string& prefix) {
        std::string tmpl = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
        REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
        dir = tmpl;
    }
    ~temp_dir() {
        std::error_code ignored;  // (a destructor must not throw)
        std::filesystem::remove_all(dir, ignored);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
};

}  // namespace goro_test
