// goro::bufio — Go's bufio package: a buffered reader (read_line,
// read_until, peek), a line scanner with a maximum line length, and a
// buffered writer with flush, over any goro byte stream (TCP, Unix, file).
//
//     goro::bufio::scanner sc(conn);                 // Go's bufio.NewScanner
//     while (co_await sc.scan()) handle(sc.text());  // lines, "\n" / "\r\n" dropped
//     if (sc.error()) ...                            // errc::too_long, a read error
//
//     goro::bufio::reader r(conn);                   // Go's bufio.NewReader
//     auto line = co_await r.read_line();            // io_errc::eof at the end
//
//     goro::bufio::writer w(conn);                   // Go's bufio.NewWriter
//     auto ok = co_await w.write_string("HELLO\r\n");
//     auto done = co_await w.flush();                // nothing is sent before a flush
//                                                    // or a full buffer
//
// The namespace is goro::bufio, as Go's package name (goro::net, goro::fs
// follow the same rule), so Go code reads across one for one.
//
// Streams. reader and scanner read from any Stream with
//     co_await s.read(void* data, std::size_t size) -> goro::result<std::size_t>
// (one read, at most size bytes, 0 at end of stream): goro::net::tcp_stream,
// unix_stream, goro::fs::file (reading at its cursor), file_at below (reading
// at an offset of its own), and a bufio::reader itself. writer writes to any
// Stream with co_await s.write(const void* data, std::size_t size) ->
// goro::result<std::size_t> (one write, possibly short): the same types, and a
// bufio::writer. The Stream is held by value (goro's handles are cheap shared
// references); give a reference type (reader<my_source&>) to hold a reference.
//
// Outcomes (goro::result values, as everywhere in goro::net and goro::fs):
//   - reader::read returns 0 at end of stream, like the streams themselves;
//   - read_byte, read_until, read_line and peek return goro::io_errc::eof when
//     the stream ended before any byte of the answer;
//   - data before an end of stream or an error come first: read_until returns
//     the partial data read before the end (without the delimiter: test
//     whether it ends with it), and the end (io_errc::eof) or the error comes
//     from the next call. An error is reported once (as Go's bufio.Reader): the
//     call after it reads from the stream again, so a timeout can be retried;
//   - scanner: scan() returns false at the end; error() is empty at a clean
//     end of stream, errc::too_long for a line over the maximum, or the
//     stream's error;
//   - writer: the first error is sticky: every later write and flush returns
//     it (Go's bufio.Writer); the bytes not yet written stay buffered.
//
// Every operation returns an awaitable: the answer, when the buffer alone
// gives it (no coroutine frame, no suspension: most calls), or a goro::task
// that reads or writes the stream. Await it at once (the buffer part is done
// by the call itself); the reader, scanner or writer, and the memory given to
// read or write, must outlive it. One task at a time may use a reader,
// scanner or writer (they hold no lock, as in Go).
#pragma once

#include <algorithm>
#include <concepts>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "../runtime/result.hpp"
#include "../runtime/task.hpp"
#include "fs.hpp"
#include "io_error.hpp"

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

namespace detail {

// The value co_await gives for an awaitable A: a member operator co_await
// (goro::task) or the awaiter's own await_resume (goro's I/O awaiters).
template <typename A>
auto awaited(A&& a) {
    if constexpr (requires { std::forward<A>(a).operator co_await(); })
        return std::forward<A>(a).operator co_await().await_resume();
    else
        return a.await_resume();
}
template <typename A>
using awaited_t = decltype(awaited(std::declval<A>()));

// What the buffered operations return: a value computed at once from the
// buffer (no coroutine frame, no suspension), or the task that does the
// rest with I/O. Most calls take the first path. Besides being cheap, it
// keeps the native stack flat where symmetric transfer is no tail call
// (sanitizer builds, -O0): there every awaited task nests a frame, and a loop
// of millions of buffered calls would overflow the stack.
template <typename T>
class [[nodiscard]] maybe_ready {
public:
    explicit maybe_ready(T value) : m_value(std::move(value)) {}
    explicit maybe_ready(task<T> slow) noexcept : m_slow(std::move(slow)) {}

    bool await_ready() const noexcept { return m_value.has_value(); }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<> h) {
        m_awaiter.emplace(std::move(m_slow).operator co_await());
        return m_awaiter->await_suspend(h);
    }
    T await_resume() {
        if (m_value) return std::move(*m_value);
        return m_awaiter->await_resume();
    }

private:
    using task_awaiter = decltype(std::declval<task<T>>().operator co_await());
    std::optional<T> m_value;  // set: ready, m_slow is empty
    task<T> m_slow;            // owns the frame m_awaiter resumes
    std::optional<task_awaiter> m_awaiter;
};

}  // namespace detail

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

/// A goro::fs::file read and written at an offset this object keeps (pread /
/// pwrite), leaving the file's cursor alone: several of them can read one open
/// file at different places.
///
///     goro::bufio::reader r(goro::bufio::file_at{f, 1024});  // from byte 1024
class file_at {
public:
    explicit file_at(fs::file f, std::uint64_t offset = 0) noexcept : m_file(std::move(f)), m_offset(offset) {}

    /// Where the next read or write goes.
    [[nodiscard]] std::uint64_t offset() const noexcept { return m_offset; }
    [[nodiscard]] const fs::file& file() const noexcept { return m_file; }

    /// read_at / write_at at offset(), which advances by the bytes moved.
    [[nodiscard]] auto read(void* data, std::size_t size) noexcept {
        return advancing{m_file.read_at(data, size, m_offset), &m_offset};
    }
    [[nodiscard]] auto write(const void* data, std::size_t size) noexcept {
        return advancing{m_file.write_at(data, size, m_offset), &m_offset};
    }

private:
    // The file's awaiter, with the offset advanced on completion.
    struct advancing {
        fs::detail::file_io io;
        std::uint64_t* offset;
        bool await_ready() const noexcept { return false; }
        bool await_suspend(std::coroutine_handle<> h) { return io.await_suspend(h); }
        result<std::size_t> await_resume() const noexcept {
            auto r = io.await_resume();
            if (r) *offset += *r;
            return r;
        }
    };

    fs::file m_file;
    std::uint64_t m_offset;
};

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

template <>
struct std::is_error_code_enum<goro::bufio::errc> : std::true_type {};
