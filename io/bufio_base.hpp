// goro::bufio's vocabulary, shared by its reader, scanner and writer
// (bufio.hpp has the overview): the error codes (category "goro.bufio"),
// the buffer sizes, and the Streams each can read or write (byte_source,
// byte_sink).
#pragma once

#include <concepts>
#include <cstddef>
#include <system_error>
#include <type_traits>

#include "../runtime/result.hpp"
#include "detail/maybe_ready.hpp"

namespace goro::bufio {

/// The errors of category "goro.bufio".
enum class errc : int {
    too_long = 1,  ///< "bufio.Scanner: token too long": a line over the scanner's maximum
    buffer_full,   ///< "bufio: buffer full": peek(n) with n over the reader's buffer size
    short_write,   ///< "short write": the stream accepted 0 bytes of a non-empty write
};

[[nodiscard]] const std::error_category& bufio_category() noexcept;
[[nodiscard]] inline std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), bufio_category()};
}

/// Go's bufio.defaultBufSize: the reader's and writer's buffer size.
inline constexpr std::size_t default_buffer_size = 4096;
/// Go's bufio.MaxScanTokenSize: the scanner's default maximum line length.
inline constexpr std::size_t default_max_token_size = 64 * 1024;
/// The smallest reader and writer buffer (Go's minReadBufferSize).
inline constexpr std::size_t min_buffer_size = 16;

/// Anything reader and scanner can read from: one read, 0 at end of stream.
template <typename S>
concept byte_source = requires(std::remove_reference_t<S>& s, void* data, std::size_t size) {
    { detail::awaited(s.read(data, size)) } -> std::same_as<result<std::size_t>>;
};

/// Anything writer can write to: one write of at most size bytes.
template <typename S>
concept byte_sink = requires(std::remove_reference_t<S>& s, const void* data, std::size_t size) {
    { detail::awaited(s.write(data, size)) } -> std::same_as<result<std::size_t>>;
};

}  // namespace goro::bufio

template <>
struct std::is_error_code_enum<goro::bufio::errc> : std::true_type {};
