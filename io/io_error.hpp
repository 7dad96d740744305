// goro::io_errc — the end-of-stream outcomes of goro's streams (category
// "goro.io"), as Go's io.EOF and io.ErrUnexpectedEOF.
//
//     auto r = co_await conn.read_exact(buf, n);
//     if (r.error() == goro::io_errc::eof) ...          // ended before any byte
//     if (r.error() == goro::io_errc::unexpected_eof)   // ended part-way
//
// read() reports a clean end of stream as a successful 0, like POSIX read;
// the helpers that need a whole buffer (read_exact) report these codes.
#pragma once

#include <system_error>
#include <type_traits>

namespace goro {

enum class io_errc : int {
    eof = 1,         ///< "EOF": the stream ended before any byte was read
    unexpected_eof,  ///< "unexpected EOF": the stream ended part-way through
};

[[nodiscard]] const std::error_category& io_category() noexcept;
[[nodiscard]] inline std::error_code make_error_code(io_errc e) noexcept {
    return {static_cast<int>(e), io_category()};
}

}  // namespace goro

template <>
struct std::is_error_code_enum<goro::io_errc> : std::true_type {};
