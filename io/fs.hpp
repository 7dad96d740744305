// goro::fs — Go's os.File on io_uring: open, read/write at an offset or at
// the file cursor, fsync and close, each one ring request (IORING_OP_OPENAT,
// READ, WRITE, FSYNC), so a task waiting on a slow disk holds no thread.
//
//     auto f = co_await goro::fs::file::open("data.bin", O_RDONLY);
//     if (!f) ... f.error()
//     char buf[4096];
//     auto n = co_await f->read(buf, sizeof buf);   // 0 at end of file
//     auto all = co_await goro::fs::read_file("config.txt");
//
// Results follow the conventions of goro::net (io/socket.hpp): read() gives 0
// at end of file; operations after close() fail with net::errc::closed; OS
// failures are std::system_category() codes. A file handle is a cheap
// copyable reference to one open file; the last copy closes it.
//
// Opening a FIFO waits for its other end, as open(2) and Go's os.OpenFile
// do: the ring's fast inline open does not wait (it adds O_NONBLOCK), so a
// FIFO is opened again in a kernel worker, which does (see fs.cpp).
//
// open, read, write, read_at, write_at, write_all, fsync and fdatasync take a
// goro::context last: when it is done while the request waits (a FIFO with
// no other end, a slow device), the request is cancelled and returns
// ctx.err(); a context already done fails at once. A regular file's read may finish before the
// cancellation reaches it; it then returns its data.
//
//     auto [ctx, cancel] = goro::with_timeout(goro::background(), 1s);
//     auto n = co_await fifo.read(buf, sizeof buf, ctx);   // ctx.err() after 1 s
#pragma once

#include <fcntl.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "../runtime/context.hpp"
#include "../runtime/result.hpp"
#include "../runtime/task.hpp"
#include "detail/ctx_io.hpp"
#include "detail/io_op.hpp"
#include "net_error.hpp"

namespace goro::fs {

namespace detail {

struct file_io : goro::detail::io_awaiter {
    file_io(goro::detail::fd_state* f, void* data, std::size_t size, std::uint64_t off, bool is_write) noexcept {
        file = f ? f : goro::detail::closed_fd_state();
        buf = data;
        len = size;
        offset = off;
        op = is_write ? goro::detail::io_kind::write : goro::detail::io_kind::read;
        reason = is_write ? "IO wait (file write)" : "IO wait (file read)";
    }
};

/// file_io bound to a goro::context.
using ctx_file_io = goro::detail::ctx_io<file_io>;

struct fsync_io : goro::detail::io_awaiter {
    fsync_io(goro::detail::fd_state* f, bool data_only) noexcept {
        file = f ? f : goro::detail::closed_fd_state();
        flags = data_only ? 1 /* IORING_FSYNC_DATASYNC */ : 0;
        op = goro::detail::io_kind::fsync;
        reason = "IO wait (fsync)";
    }
};

/// fsync_io bound to a goro::context.
using ctx_fsync_io = goro::detail::ctx_io<fsync_io>;

}  // namespace detail

/// "Use the file cursor" as an offset.
inline constexpr std::uint64_t k_cursor = ~std::uint64_t{0};

class file {
public:
    file() noexcept = default;
    /// Adopts an open descriptor.
    explicit file(int fd);

    /// openat(AT_FDCWD, path, flags | O_CLOEXEC, mode).
    [[nodiscard]] static task<result<file>> open(std::string path, int flags = O_RDONLY, unsigned mode = 0644);
    /// The same, cancelled by ctx: ctx.err() once it is done (an open that
    /// can block: a FIFO waiting for its other end, a slow network mount).
    /// An open that completed before the cancel took effect returns the file.
    [[nodiscard]] static task<result<file>> open(std::string path, int flags, unsigned mode, context ctx);
    /// O_WRONLY | O_CREAT | O_TRUNC (Go's os.Create, but write-only).
    [[nodiscard]] GORO_CORO_WRAPPER static task<result<file>> create(std::string path, unsigned mode = 0644) {
        return open(std::move(path), O_WRONLY | O_CREAT | O_TRUNC, mode);
    }

    [[nodiscard]] explicit operator bool() const noexcept { return m_state != nullptr; }
    [[nodiscard]] int native_handle() const noexcept;

    /// pread / pwrite: at most size bytes at offset; 0 from read_at = end of file.
    [[nodiscard]] detail::file_io read_at(void* data, std::size_t size, std::uint64_t offset) const noexcept {
        return {m_state.get(), data, size, offset, false};
    }
    [[nodiscard]] detail::file_io write_at(const void* data, std::size_t size, std::uint64_t offset) const noexcept {
        return {m_state.get(), const_cast<void*>(data), size, offset, true};
    }
    /// read / write at the file cursor (which they advance).
    [[nodiscard]] detail::file_io read(void* data, std::size_t size) const noexcept {
        return {m_state.get(), data, size, k_cursor, false};
    }
    [[nodiscard]] detail::file_io write(const void* data, std::size_t size) const noexcept {
        return {m_state.get(), const_cast<void*>(data), size, k_cursor, true};
    }
    /// Writes everything at the cursor (looping over short writes).
    [[nodiscard]] task<result<void>> write_all(std::string_view data) const;

    /// The same, cancelled by ctx (see the file comment): ctx.err() once it is done.
    [[nodiscard]] detail::ctx_file_io read_at(void* data, std::size_t size, std::uint64_t offset,
                                              const context& ctx) const noexcept {
        return detail::ctx_file_io(ctx, m_state.get(), data, size, offset, false);
    }
    [[nodiscard]] detail::ctx_file_io write_at(const void* data, std::size_t size, std::uint64_t offset,
                                               const context& ctx) const noexcept {
        return detail::ctx_file_io(ctx, m_state.get(), const_cast<void*>(data), size, offset, true);
    }
    [[nodiscard]] detail::ctx_file_io read(void* data, std::size_t size, const context& ctx) const noexcept {
        return detail::ctx_file_io(ctx, m_state.get(), data, size, k_cursor, false);
    }
    [[nodiscard]] detail::ctx_file_io write(const void* data, std::size_t size, const context& ctx) const noexcept {
        return detail::ctx_file_io(ctx, m_state.get(), const_cast<void*>(data), size, k_cursor, true);
    }
    /// ctx.err() once ctx is done; a prefix of data may have been written.
    [[nodiscard]] task<result<void>> write_all(std::string_view data, context ctx) const;

    [[nodiscard]] detail::fsync_io fsync() const noexcept { return {m_state.get(), false}; }
    [[nodiscard]] detail::fsync_io fdatasync() const noexcept { return {m_state.get(), true}; }
    /// fsync / fdatasync cancelled by ctx (ctx.err() once it is done).
    [[nodiscard]] detail::ctx_fsync_io fsync(const context& ctx) const noexcept {
        return detail::ctx_fsync_io(ctx, m_state.get(), false);
    }
    [[nodiscard]] detail::ctx_fsync_io fdatasync(const context& ctx) const noexcept {
        return detail::ctx_fsync_io(ctx, m_state.get(), true);
    }

    /// Closes the file (after any request in flight on it completes).
    result<void> close() noexcept;

private:
    std::shared_ptr<goro::detail::fd_state> m_state;
};

/// The whole file (Go's os.ReadFile).
[[nodiscard]] task<result<std::string>> read_file(std::string path);
/// Creates or truncates path and writes data (Go's os.WriteFile).
[[nodiscard]] task<result<void>> write_file(std::string path, std::string data, unsigned mode = 0644);

}  // namespace goro::fs
