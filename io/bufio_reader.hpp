// goro::bufio::reader — Go's bufio.Reader (bufio.hpp has the overview: the
// Streams it reads, its outcomes, how its operations are awaited).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "../runtime/result.hpp"
#include "../runtime/task.hpp"
#include "bufio_base.hpp"
#include "io_error.hpp"

namespace goro::bufio {

/// Go's bufio.Reader: reads a Stream through a buffer.
template <typename Stream>
    requires byte_source<Stream>
class reader {
    template <typename T>
    using op = detail::maybe_ready<T>;

public:
    explicit reader(Stream s, std::size_t size = default_buffer_size)
        : m_src(std::forward<Stream>(s)),
          m_size(std::max(size, min_buffer_size)),
          m_buf(std::make_unique<char[]>(m_size)) {}

    /// The stream read from.
    [[nodiscard]] Stream& stream() noexcept { return m_src; }
    /// Bytes read from the stream and not yet returned.
    [[nodiscard]] std::size_t buffered() const noexcept { return m_w - m_r; }
    /// The buffer's size.
    [[nodiscard]] std::size_t size() const noexcept { return m_size; }

    /// Go's Reader.Read: at most size bytes, from the buffer when it holds
    /// any, else with at most one read of the stream (straight into data when
    /// size is at least the buffer's size). 0 at end of stream (or size 0).
    [[nodiscard]] op<result<std::size_t>> read(void* data, std::size_t size) {
        if (size == 0) return op<result<std::size_t>>(result<std::size_t>(std::size_t{0}));
        if (m_r < m_w) return op<result<std::size_t>>(result<std::size_t>(take(data, size)));
        return op<result<std::size_t>>(read_slow(data, size));
    }

    /// One byte; io_errc::eof at end of stream.
    [[nodiscard]] op<result<char>> read_byte() {
        if (m_r < m_w) return op<result<char>>(result<char>(m_buf[m_r++]));
        return op<result<char>>(read_byte_slow());
    }

    /// Go's ReadString(delim): the bytes up to and including the first delim.
    /// At end of stream (or an error) before a delim: the bytes read so far,
    /// without delim, then io_errc::eof (or the error) from the next call;
    /// io_errc::eof at once when nothing was left. The line is not bounded
    /// (use scanner for a maximum).
    [[nodiscard]] op<result<std::string>> read_until(char delim) {
        if (const std::size_t n = find(delim)) return op<result<std::string>>(result<std::string>(take(n)));
        return op<result<std::string>>(read_until_slow(delim));
    }

    /// A line without its "\n" or "\r\n" (Go's Scanner with ScanLines, on a
    /// reader). A last line without "\n" is returned too (a trailing "\r"
    /// dropped); io_errc::eof after it. Not bounded: see scanner.
    [[nodiscard]] op<result<std::string>> read_line() {
        if (const std::size_t n = find('\n')) {
            result<std::string> line(take(n));
            strip_line(line);
            return op<result<std::string>>(std::move(line));
        }
        return op<result<std::string>>(read_line_slow());
    }

    /// Go's Peek: the next n bytes without consuming them, a view into the
    /// buffer valid until the next call on this reader. errc::buffer_full if
    /// n is over size(). At end of stream (or an error) before n bytes: the
    /// shorter view of what there is, or io_errc::eof (or the error) when
    /// nothing is buffered.
    [[nodiscard]] op<result<std::string_view>> peek(std::size_t n) {
        using r = result<std::string_view>;
        if (n > m_size) return op<r>(r(make_error_code(errc::buffer_full)));
        if (m_w - m_r >= n) return op<r>(r(std::string_view(m_buf.get() + m_r, n)));
        return op<r>(peek_slow(n));
    }

private:
    // The slow paths: the buffer cannot answer alone, the stream is read.
    task<result<std::size_t>> read_slow(void* data, std::size_t size) {
        // Here size > 0 and the buffer is empty.
        if (m_err) co_return take_error_or_zero();
        if (size >= m_size) {
            // Large read, empty buffer: no copy.
            auto n = co_await m_src.read(data, size);
            co_return n;
        }
        co_await fill();
        if (m_r == m_w) co_return take_error_or_zero();
        co_return take(data, size);
    }

    task<result<char>> read_byte_slow() {
        while (m_r == m_w) {
            if (m_err) co_return take_error();
            co_await fill();
        }
        co_return m_buf[m_r++];
    }

    task<result<std::string>> read_until_slow(char delim) {
        std::string out;
        for (;;) {
            if (const std::size_t n = find(delim)) {
                out.append(m_buf.get() + m_r, n);
                m_r += n;
                co_return out;
            }
            out.append(m_buf.get() + m_r, m_w - m_r);
            m_r = m_w;
            if (m_err) {
                if (!out.empty()) co_return out;  // the error waits for the next call
                co_return take_error();
            }
            co_await fill();
        }
    }

    task<result<std::string>> read_line_slow() {
        auto line = co_await read_until_slow('\n');
        strip_line(line);
        co_return line;
    }

    task<result<std::string_view>> peek_slow(std::size_t n) {
        while (m_w - m_r < n && !m_err) co_await fill();
        if (m_w == m_r && n > 0 && m_err) co_return take_error();
        co_return std::string_view(m_buf.get() + m_r, std::min(n, m_w - m_r));
    }

    // One read of the stream into the free end of the buffer, moving the
    // unread bytes to its front first. Records a 0 (end of stream) as
    // io_errc::eof, and an error, in m_err. Precondition: no pending m_err,
    // fewer than m_size bytes unread (so there is room after the move).
    task<void> fill() {
        if (m_r > 0) {
            std::memmove(m_buf.get(), m_buf.get() + m_r, m_w - m_r);
            m_w -= m_r;
            m_r = 0;
        }
        auto n = co_await m_src.read(m_buf.get() + m_w, m_size - m_w);
        if (!n)
            m_err = n.error();
        else if (*n == 0)
            m_err = make_error_code(io_errc::eof);
        else
            m_w += *n;
    }

    // The length of the buffered bytes up to and including delim; 0 if absent.
    std::size_t find(char delim) const noexcept {
        const char* begin = m_buf.get() + m_r;
        const auto* hit = static_cast<const char*>(std::memchr(begin, delim, m_w - m_r));
        return hit ? static_cast<std::size_t>(hit - begin) + 1 : 0;
    }
    // Consumes n buffered bytes (n <= buffered()) as a string.
    std::string take(std::size_t n) {
        std::string s(m_buf.get() + m_r, n);
        m_r += n;
        return s;
    }
    // Consumes up to size buffered bytes into data (buffered() > 0).
    std::size_t take(void* data, std::size_t size) noexcept {
        const std::size_t n = std::min(size, m_w - m_r);
        std::memcpy(data, m_buf.get() + m_r, n);
        m_r += n;
        return n;
    }
    static void strip_line(result<std::string>& line) noexcept {
        if (!line) return;
        if (!line->empty() && line->back() == '\n') line->pop_back();
        if (!line->empty() && line->back() == '\r') line->pop_back();
    }

    // The pending error, cleared (Go's readErr).
    std::error_code take_error() noexcept { return std::exchange(m_err, {}); }
    // For read(): end of stream is a 0, as the streams' own read.
    result<std::size_t> take_error_or_zero() noexcept {
        auto e = take_error();
        if (e == io_errc::eof) return std::size_t{0};
        return e;
    }

    Stream m_src;
    std::size_t m_size;
    std::unique_ptr<char[]> m_buf;
    // Invariant: 0 <= m_r <= m_w <= m_size; [m_r, m_w) are the unread bytes.
    std::size_t m_r = 0;
    std::size_t m_w = 0;
    // The end of stream (io_errc::eof) or error that stopped the last fill,
    // not yet reported: returned once, after the buffered bytes.
    std::error_code m_err;
};

template <typename S>
reader(S) -> reader<S>;
template <typename S>
reader(S, std::size_t) -> reader<S>;

}  // namespace goro::bufio
