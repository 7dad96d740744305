// goro::bufio::writer — Go's bufio.Writer (bufio.hpp has the overview: the
// Streams it writes, its sticky error, how its operations are awaited).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>
#include <system_error>
#include <utility>

#include "../runtime/result.hpp"
#include "../runtime/task.hpp"
#include "bufio_base.hpp"

namespace goro::bufio {

/// Go's bufio.Writer: collects writes in a buffer and writes it to the Stream
/// when it is full or on flush(). Destroying a writer does not flush (as in
/// Go): call flush() before.
template <typename Stream>
    requires byte_sink<Stream>
class writer {
    template <typename T>
    using op = detail::maybe_ready<T>;

public:
    explicit writer(Stream s, std::size_t size = default_buffer_size)
        : m_dst(std::forward<Stream>(s)),
          m_size(std::max(size, min_buffer_size)),
          m_buf(std::make_unique<char[]>(m_size)) {}

    /// The stream written to.
    [[nodiscard]] Stream& stream() noexcept { return m_dst; }
    /// Bytes written into the buffer and not yet to the stream.
    [[nodiscard]] std::size_t buffered() const noexcept { return m_n; }
    /// Free bytes in the buffer.
    [[nodiscard]] std::size_t available() const noexcept { return m_size - m_n; }
    [[nodiscard]] std::size_t size() const noexcept { return m_size; }
    /// The sticky error, empty while none happened.
    [[nodiscard]] std::error_code error() const noexcept { return m_err; }

    /// Go's Writer.Write: all of size bytes, into the buffer while they fit;
    /// a full buffer is written out first, and data larger than the free
    /// space with an empty buffer goes straight to the stream (no copy).
    /// Returns size, or the (sticky) error.
    [[nodiscard]] op<result<std::size_t>> write(const void* data, std::size_t size) {
        using r = result<std::size_t>;
        if (m_err) return op<r>(r(m_err));
        if (size <= available()) {
            if (size > 0) std::memcpy(m_buf.get() + m_n, data, size);
            m_n += size;
            return op<r>(r(size));
        }
        return op<r>(write_slow(static_cast<const char*>(data), size));
    }
    [[nodiscard]] op<result<std::size_t>> write(std::string_view s) { return write(s.data(), s.size()); }
    /// Go's WriteString.
    [[nodiscard]] op<result<std::size_t>> write_string(std::string_view s) { return write(s.data(), s.size()); }
    /// Go's WriteByte.
    [[nodiscard]] op<result<void>> write_byte(char c) {
        if (m_err) return op<result<void>>(result<void>(m_err));
        if (m_n < m_size) {
            m_buf[m_n++] = c;
            return op<result<void>>(result<void>{});
        }
        return op<result<void>>(write_byte_slow(c));
    }

    /// Writes the buffer to the stream. Nothing to write: no I/O. On an error
    /// the unwritten bytes stay buffered and the error is sticky.
    [[nodiscard]] op<result<void>> flush() {
        if (m_err) return op<result<void>>(result<void>(m_err));
        if (m_n == 0) return op<result<void>>(result<void>{});
        return op<result<void>>(flush_slow());
    }

private:
    task<result<std::size_t>> write_slow(const char* p, std::size_t size) {
        std::size_t left = size;
        while (left > available()) {
            if (m_n == 0) {
                const std::size_t n = co_await send(p, left);
                p += n;
                left -= n;
                if (m_err) co_return m_err;
            } else {
                const std::size_t n = available();
                std::memcpy(m_buf.get() + m_n, p, n);
                m_n += n;
                p += n;
                left -= n;
                auto f = co_await flush_slow();
                if (!f) co_return f.error();
            }
        }
        if (left > 0) std::memcpy(m_buf.get() + m_n, p, left);
        m_n += left;
        co_return size;
    }

    task<result<void>> write_byte_slow(char c) {
        auto f = co_await flush_slow();  // the buffer is full
        if (!f) co_return f;
        m_buf[m_n++] = c;
        co_return result<void>{};
    }

    // Precondition: no error, m_n > 0.
    task<result<void>> flush_slow() {
        const std::size_t n = co_await send(m_buf.get(), m_n);
        if (n > 0 && n < m_n) std::memmove(m_buf.get(), m_buf.get() + n, m_n - n);
        m_n -= n;
        if (m_err) co_return m_err;
        co_return result<void>{};
    }

    // Writes size bytes with as many stream writes as it takes; returns how
    // many were written, and records the error that stopped it in m_err.
    task<std::size_t> send(const char* p, std::size_t size) {
        std::size_t done = 0;
        while (done < size) {
            auto n = co_await m_dst.write(p + done, size - done);
            if (!n) {
                m_err = n.error();
                break;
            }
            if (*n == 0) {
                m_err = make_error_code(errc::short_write);
                break;
            }
            done += *n;
        }
        co_return done;
    }

    Stream m_dst;
    std::size_t m_size;
    std::unique_ptr<char[]> m_buf;
    std::size_t m_n = 0;    // Invariant: m_n <= m_size; [0, m_n) await the stream.
    std::error_code m_err;  // sticky: once set, every write and flush returns it
};

template <typename S>
writer(S) -> writer<S>;
template <typename S>
writer(S, std::size_t) -> writer<S>;

}  // namespace goro::bufio
