// The "goro.bufio" error category. See bufio.hpp.
#include "bufio.hpp"

#include <string>

namespace goro::bufio {
namespace {

class bufio_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "goro.bufio"; }

    std::string message(int code) const override {
        switch (static_cast<errc>(code)) {
        case errc::too_long: return "bufio.Scanner: token too long";
        case errc::buffer_full: return "bufio: buffer full";
        case errc::short_write: return "short write";
        }
        return "unknown goro.bufio error " + std::to_string(code);
    }
};

}  // namespace

const std::error_category& bufio_category() noexcept {
    static const bufio_category_impl instance;
    return instance;
}

}  // namespace goro::bufio
