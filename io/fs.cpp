// goro::fs — files through the processor's io_uring.
#include "fs.hpp"

#include <sys/stat.h>
#include <unistd.h>

namespace goro::fs {
namespace {

// How an open reaches the kernel. The ring first tries an open inline, with
// O_NONBLOCK added; for regular files that is the fast path (no worker
// thread). For a FIFO it is not open(2): a reader gets a descriptor at once
// without waiting for a writer (and its reads then see end of file), and a
// writer gets ENXIO without waiting for a reader. So a FIFO is opened again
// in a kernel worker, which waits for the other end as open(2) does.
enum class open_path { inline_first, in_worker };

struct open_io : goro::detail::io_awaiter {
    open_io(const std::string& path, int open_flags, unsigned open_mode, open_path how) noexcept {
        addr = path.c_str();
        flags = open_flags;
        mode = open_mode;
        op = how == open_path::in_worker ? goro::detail::io_kind::openat_in_worker : goro::detail::io_kind::openat;
        reason = "IO wait (open)";
    }
};

// An open under a context. The context's cancel path (cancel_for_context)
// works on a request's file: an open has none yet, so it carries a stand-in
// that is never closed and never owns a descriptor, which lists the request
// as pending while it is on the ring.
struct cancellable_open_io : open_io {
    cancellable_open_io(const std::string& path, int open_flags, unsigned open_mode, open_path how) noexcept
        : open_io(path, open_flags, open_mode, how) {
        file = &m_no_file;
    }
    cancellable_open_io(const cancellable_open_io&) = delete;
    cancellable_open_io& operator=(const cancellable_open_io&) = delete;

private:
    goro::detail::fd_state m_no_file{-1};
};

// One ring open, under ctx when there is one.
task<result<std::size_t>> ring_open(const std::string& path, int flags, unsigned mode, open_path how,
                                    const context* ctx) {
    if (ctx) co_return co_await goro::detail::ctx_io<cancellable_open_io>(*ctx, path, flags, mode, how);
    co_return co_await open_io(path, flags, mode, how);
}

bool is_fifo(int fd) noexcept {
    struct stat st {};
    return ::fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode);
}

task<result<file>> open_file(std::string path, int flags, unsigned mode, const context* ctx) {
    result<std::size_t> fd = co_await ring_open(path, flags, mode, open_path::inline_first, ctx);
    goro::detail::netpoll_driver* driver = goro::detail::current_netpoll();
    if (flags & O_NONBLOCK) {
        // Asked for: the inline semantics are the caller's.
    } else if (driver && driver->blocking_file_ops()) {
        // The open was open(2) itself, on the blocking pool: a FIFO already
        // waited for its other end.
    } else if (!fd && fd.error() == std::errc::no_such_device_or_address && (flags & O_ACCMODE) == O_WRONLY) {
        // A FIFO with no reader yet (or a device that is absent: the worker
        // then reports ENXIO too).
        fd = co_await ring_open(path, flags, mode, open_path::in_worker, ctx);
    } else if (fd && (flags & O_ACCMODE) == O_RDONLY && is_fifo(static_cast<int>(*fd))) {
        // Hold the early descriptor until the worker's open has returned:
        // the FIFO never loses its last reader in between, so a writer that
        // the early open let through cannot get EPIPE.
        const int early = static_cast<int>(*fd);
        fd = co_await ring_open(path, flags, mode, open_path::in_worker, ctx);
        ::close(early);
    }
    if (!fd) co_return fd.error();
    co_return file(static_cast<int>(*fd));
}

}  // namespace

task<result<file>> file::open(std::string path, int flags, unsigned mode, context ctx) {
    co_return co_await open_file(std::move(path), flags, mode, &ctx);  // ctx lives in this frame
}

file::file(int fd) : m_state(std::make_shared<goro::detail::fd_state>(fd)) {}

int file::native_handle() const noexcept {
    if (!m_state) return -1;
    std::lock_guard guard(m_state->lock);
    return m_state->closed ? -1 : m_state->fd;
}

task<result<file>> file::open(std::string path, int flags, unsigned mode) {
    return open_file(std::move(path), flags, mode, nullptr);
}

result<void> file::close() noexcept {
    if (!m_state) return make_error_code(net::errc::closed);
    return m_state->close();
}

namespace {

// write_all with and without a context (`ctx` is empty or one goro::context).
template <typename... Ctx>
task<result<void>> write_all_loop(const file* f, std::string_view data, Ctx... ctx) {
    std::size_t done = 0;
    while (done < data.size()) {
        result<std::size_t> n = co_await f->write(data.data() + done, data.size() - done, ctx...);
        if (!n) co_return n.error();
        if (*n == 0) co_return std::make_error_code(std::errc::io_error);
        done += *n;
    }
    co_return result<void>{};
}

}  // namespace

task<result<void>> file::write_all(std::string_view data) const { return write_all_loop(this, data); }

task<result<void>> file::write_all(std::string_view data, context ctx) const {
    return write_all_loop(this, data, std::move(ctx));
}

task<result<std::string>> read_file(std::string path) {
    result<file> f = co_await file::open(std::move(path), O_RDONLY);
    if (!f) co_return f.error();
    std::string out;
    struct stat st {};
    std::size_t chunk = 64 * 1024;
    if (::fstat(f->native_handle(), &st) == 0 && st.st_size > 0)
        chunk = static_cast<std::size_t>(st.st_size) + 1;  // +1: see EOF in the same round when the size held
    std::uint64_t offset = 0;
    for (;;) {
        const std::size_t old = out.size();
        out.resize(old + chunk);
        result<std::size_t> n = co_await f->read_at(out.data() + old, chunk, offset);
        if (!n) co_return n.error();
        out.resize(old + *n);
        if (*n == 0) break;
        offset += *n;
        chunk = std::max<std::size_t>(chunk, 64 * 1024);
    }
    (void)f->close();
    co_return out;
}

task<result<void>> write_file(std::string path, std::string data, unsigned mode) {
    result<file> f = co_await file::create(std::move(path), mode);
    if (!f) co_return f.error();
    std::uint64_t offset = 0;
    while (offset < data.size()) {
        result<std::size_t> n = co_await f->write_at(data.data() + offset, data.size() - offset, offset);
        if (!n) {
            (void)f->close();
            co_return n.error();
        }
        if (*n == 0) co_return std::make_error_code(std::errc::io_error);
        offset += *n;
    }
    co_return f->close();
}

}  // namespace goro::fs
