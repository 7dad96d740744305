// goro::bufio::file_at — a goro::fs::file as a bufio Stream that reads and
// writes at an offset of its own (bufio.hpp has the overview).
#pragma once

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "../runtime/result.hpp"
#include "fs.hpp"

namespace goro::bufio {

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

}  // namespace goro::bufio
