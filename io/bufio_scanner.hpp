// goro::bufio::scanner — Go's bufio.Scanner with ScanLines (bufio.hpp has
// the overview: the Streams it reads, its outcomes, how scan() is awaited).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "../runtime/task.hpp"
#include "bufio_base.hpp"

namespace goro::bufio {

/// Go's bufio.Scanner with ScanLines: reads lines up to a maximum length,
/// in a buffer that never grows past it.
template <typename Stream>
    requires byte_source<Stream>
class scanner {
public:
    explicit scanner(Stream s, std::size_t max_token_size = default_max_token_size)
        : m_src(std::forward<Stream>(s)), m_max(max_token_size) {}

    /// Go's Scanner.Buffer: the longest line (without its "\n" or "\r\n")
    /// scan() accepts; a longer one ends the scan with errc::too_long.
    void buffer(std::size_t max_token_size) noexcept { m_max = max_token_size; }
    [[nodiscard]] std::size_t max_token_size() const noexcept { return m_max; }
    /// The stream read from.
    [[nodiscard]] Stream& stream() noexcept { return m_src; }

    /// The next line into text(): true, or false at the end (then error()).
    /// A last line without "\n" is returned; "\n" and "\r\n" are dropped.
    /// After a read error the bytes before it come as a last line (Go does
    /// the same). Once false, always false.
    [[nodiscard]] detail::maybe_ready<bool> scan() {
        if (m_done) return detail::maybe_ready<bool>(false);
        if (auto found = next_line()) return detail::maybe_ready<bool>(*found);
        return detail::maybe_ready<bool>(scan_slow());
    }

    /// The line scan() found, copied (Go's Text).
    [[nodiscard]] std::string text() const { return std::string(m_token); }
    /// The same, a view into the buffer valid until the next scan() (Go's Bytes).
    [[nodiscard]] std::string_view bytes() const noexcept { return m_token; }
    /// Why scan() returned false: empty at a clean end of stream.
    [[nodiscard]] std::error_code error() const noexcept { return m_err; }

private:
    // The next line from the bytes already read: true (m_token set), false
    // (the scan stopped: too_long, or the end), nullopt (more data needed).
    std::optional<bool> next_line() {
        const char* begin = m_buf.data() + m_start;
        const std::size_t len = m_end - m_start;
        // (len is 0 while the buffer is still unallocated: memchr needs a real pointer)
        const auto* nl = len ? static_cast<const char*>(std::memchr(begin, '\n', len)) : nullptr;
        if (nl || (m_at_end && len > 0)) {
            const std::size_t advance = nl ? static_cast<std::size_t>(nl - begin) + 1 : len;
            std::size_t line = nl ? advance - 1 : len;
            if (line > 0 && begin[line - 1] == '\r') --line;
            if (line > m_max) return stop(make_error_code(errc::too_long));
            m_token = std::string_view(begin, line);
            m_start += advance;
            return true;
        }
        if (m_at_end) return stop(m_read_err);  // empty at a clean end
        return std::nullopt;
    }

    // Reads until next_line() has an answer.
    task<bool> scan_slow() {
        for (;;) {
            // More data needed: keep only the unfinished line, at the front.
            const std::size_t len = m_end - m_start;
            if (m_start > 0) {
                std::memmove(m_buf.data(), m_buf.data() + m_start, len);
                m_end = len;
                m_start = 0;
            }
            if (m_end == m_buf.size()) {
                // The buffer never exceeds the longest line plus "\r\n"; a
                // full one without "\n" holds a line over the maximum.
                const std::size_t limit = m_max + 2;
                if (m_buf.size() >= limit) co_return stop(make_error_code(errc::too_long));
                m_buf.resize(std::min(std::max(m_buf.size() * 2, std::size_t{4096}), limit));
            }
            auto n = co_await m_src.read(m_buf.data() + m_end, m_buf.size() - m_end);
            if (!n) {
                m_at_end = true;
                m_read_err = n.error();
            } else if (*n == 0) {
                m_at_end = true;
            } else {
                m_end += *n;
            }
            if (auto found = next_line()) co_return *found;
        }
    }

    bool stop(std::error_code e) noexcept {
        m_done = true;
        m_err = e;
        m_token = {};
        return false;
    }

    Stream m_src;
    std::size_t m_max;
    // Invariant: m_start <= m_end <= m_buf.size(), and the buffer grows only
    // up to m_max + 2 (the maximum when it grew: buffer() may lower it later);
    // [m_start, m_end) are the bytes read and not yet scanned.
    std::vector<char> m_buf;
    std::size_t m_start = 0;
    std::size_t m_end = 0;
    std::string_view m_token;
    bool m_at_end = false;       // the stream ended (0) or failed (m_read_err)
    std::error_code m_read_err;  // the stream's error, reported after the data
    bool m_done = false;
    std::error_code m_err;
};

template <typename S>
scanner(S) -> scanner<S>;
template <typename S>
scanner(S, std::size_t) -> scanner<S>;

}  // namespace goro::bufio
