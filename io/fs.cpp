// goro::fs — files through the processor's io_uring.
#include "fs.hpp"

#include <sys/stat.h>
#include <unistd.h>

namespace goro::fs {
namespace {

struct open_io : goro::detail::io_awaiter {
    explicit open_io(const std::string& path, int open_flags, unsigned open_mode) noexcept {
        addr = path.c_str();
        flags = open_flags;
        mode = open_mode;
        prep = &goro::detail::prep_openat;
        reason = "IO wait (open)";
    }
};

// An open under a context. The context's cancel path (cancel_for_context)
// works on a request's file: an open has none yet, so it carries a stand-in
// that is never closed and never owns a descriptor, which lists the request
// as pending while it is on the ring.
struct cancellable_open_io : open_io {
    cancellable_open_io(const std::string& path, int open_flags, unsigned open_mode) noexcept
        : open_io(path, open_flags, open_mode) {
        file = &m_no_file;
    }
    cancellable_open_io(const cancellable_open_io&) = delete;
    cancellable_open_io& operator=(const cancellable_open_io&) = delete;

private:
    goro::detail::fd_state m_no_file{-1};
};

}  // namespace

task<result<file>> file::open(std::string path, int flags, unsigned mode, context ctx) {
    result<std::size_t> fd = co_await goro::detail::ctx_io<cancellable_open_io>(ctx, path, flags, mode);
    if (!fd) co_return fd.error();
    co_return file(static_cast<int>(*fd));
}

file::file(int fd) : m_state(std::make_shared<goro::detail::fd_state>(fd)) {}

int file::native_handle() const noexcept {
    if (!m_state) return -1;
    std::lock_guard guard(m_state->lock);
    return m_state->closed ? -1 : m_state->fd;
}

task<result<file>> file::open(std::string path, int flags, unsigned mode) {
    result<std::size_t> fd = co_await open_io(path, flags, mode);
    if (!fd) co_return fd.error();
    co_return file(static_cast<int>(*fd));
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
