// TCP listeners and streams.
#include "tcp.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "../runtime/go.hpp"
#include "../runtime/select.hpp"
#include "../runtime/sleep.hpp"
#include "detail/listen_address.hpp"
#include "net.hpp"

namespace goro::net {
namespace {
std::error_code last_error() noexcept { return {errno, std::system_category()}; }

void nodelay(int fd) noexcept {
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}
}  // namespace

result<void> tcp_stream::set_nodelay(bool on) const noexcept {
    const int fd = native_handle();
    if (fd < 0) return make_error_code(errc::closed);
    const int v = on ? 1 : 0;
    if (::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, sizeof v) != 0) return last_error();
    return {};
}

task<result<tcp_stream>> tcp_stream::connect(address addr, std::chrono::nanoseconds timeout) {
    return dial(std::move(addr), timeout, context{});
}

task<result<tcp_stream>> tcp_stream::connect(std::string_view host_port, std::chrono::nanoseconds timeout,
                                             std::source_location site) {
    return dial(host_port, timeout, context{}, site);
}

task<result<tcp_stream>> tcp_stream::dial(address addr, std::chrono::nanoseconds timeout, context ctx) {
    if (addr.family() != AF_INET && addr.family() != AF_INET6)
        co_return std::make_error_code(std::errc::address_family_not_supported);
    if (const std::error_code e = ctx.err()) co_return e;  // done already: not even a socket
    const std::int64_t deadline =
        timeout == std::chrono::nanoseconds::max() ? 0 : detail::timeout_ns(timeout);
    result<int> fd = detail::open_socket(addr.family(), SOCK_STREAM);
    if (!fd) co_return fd.error();
    tcp_stream s(*fd);
    nodelay(*fd);
    result<std::size_t> r = co_await goro::detail::ctx_io<detail::connect_io>(ctx, s.state(), addr, deadline);
    if (!r) {
        (void)s.close();
        co_return r.error();
    }
    co_return s;
}

task<result<tcp_stream>> tcp_stream::dial(std::string_view host_port, std::chrono::nanoseconds timeout,
                                          context ctx, std::source_location site) {
    result<address> a = address::parse(host_port);
    if (a) co_return co_await dial(*a, timeout, ctx);
    if (a.error() != errc::host_name_needs_resolve) co_return a.error();
    const std::int64_t deadline =
        timeout == std::chrono::nanoseconds::max() ? 0 : detail::timeout_ns(timeout);
    result<std::vector<address>> all = std::make_error_code(std::errc::host_unreachable);
    if (timeout == std::chrono::nanoseconds::max()) {
        all = co_await resolve(host_port, ctx, site);
    } else {
        // The lookup counts against the timeout too; running out of it there
        // is the same timeout error as in a connect.
        auto [lookup_ctx, cancel] = with_timeout(ctx, timeout);
        all = co_await resolve(host_port, lookup_ctx, site);
        cancel();
        if (!all && all.error() == context_errc::deadline_exceeded && !ctx.err())
            co_return make_error_code(errc::timeout);
    }
    if (!all) co_return all.error();
    std::error_code last = std::make_error_code(std::errc::host_unreachable);
    for (const address& candidate : *all) {
        std::chrono::nanoseconds left = std::chrono::nanoseconds::max();
        if (deadline != 0)
            left = std::chrono::nanoseconds(
                deadline - std::chrono::duration_cast<std::chrono::nanoseconds>(
                               deadline_clock::now().time_since_epoch()).count());
        result<tcp_stream> s = co_await dial(candidate, left, ctx);
        if (s) co_return s;
        last = s.error();
        if (is_timeout(last) || ctx.err()) break;  // out of time, or cancelled: stop trying
    }
    co_return last;
}

namespace {

result<tcp_listener> listen_on(const address& addr, listen_options opts, bool dual_stack) {
    if (addr.family() != AF_INET && addr.family() != AF_INET6)
        return std::make_error_code(std::errc::address_family_not_supported);
    result<int> fd = detail::open_socket(addr.family(), SOCK_STREAM);
    if (!fd) return fd.error();
    tcp_listener l(*fd);
    const int zero = 0;
    if (dual_stack && ::setsockopt(*fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero) != 0) return last_error();
    const int one = 1;
    if (::setsockopt(*fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) return last_error();
    if (opts.reuse_port && ::setsockopt(*fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
        return last_error();
    if (::bind(*fd, addr.data(), addr.size()) != 0) return last_error();
    if (::listen(*fd, opts.backlog) != 0) return last_error();
    return l;
}

}  // namespace

result<tcp_listener> tcp_listener::listen(const address& addr, listen_options opts) {
    return listen_on(addr, opts, false);
}

result<tcp_listener> tcp_listener::listen(std::string_view host_port, listen_options opts) {
    result<detail::listen_address> where = detail::listen_address_for(host_port, SOCK_STREAM);
    if (!where) return where.error();
    result<tcp_listener> l = listen_on(where->addr, opts, where->dual_stack);
    // ":port" on a kernel without IPv6: IPv4 only.
    if (!l && where->dual_stack && l.error() == std::errc::address_family_not_supported)
        return listen_on(address::any_v4(where->addr.port()), opts, false);
    return l;
}

namespace {

// What serve() shares with its connection tasks, which may outlive it (a
// handler still running after the grace period, or any handler of the
// plain serve): owned by a shared_ptr held by serve and by every
// connection task.
struct serve_state {
    // Immutable once connections start. The handler lives here, so a
    // coroutine lambda's captures outlive every task it started.
    std::function<task<void>(tcp_stream, context)> handler;
    // The parent of every handler's context: cancelled when serve stops
    // accepting (background() for plain serve).
    context conn_ctx;
    // False for plain serve, which never closes its connections: then
    // nothing below is used, and a connection costs no lock, no entry and
    // no context of its own.
    bool tracked = false;

    struct connection {
        tcp_stream stream;   // serve's own handle, to close it when the grace period ends
        cancel_func cancel;  // cancels the handler's own context
    };
    std::mutex mu;
    // The connections whose handler runs, by id. Guarded by mu.
    std::unordered_map<std::uint64_t, connection> open;
    std::uint64_t next_id = 0;   // guarded by mu
    bool draining = false;       // set (under mu) once serve stopped accepting
    bool drained_sent = false;   // guarded by mu: `drained` was closed
    // Closed by whoever sees `open` empty while draining (serve itself, or
    // the last connection task), exactly once (drained_sent).
    chan<std::monostate> drained;

    // Records a new connection; returns its id and the context its handler
    // gets: its own child of conn_ctx (cancelled when the handler returns,
    // so the parent does not collect dead children; and a context of its
    // own keeps the handlers' I/O from contending on one context's lock).
    std::pair<std::uint64_t, context> add(const tcp_stream& c) {
        if (!tracked) return {0, conn_ctx};
        auto [ctx, cancel] = with_cancel(conn_ctx);
        std::lock_guard guard(mu);
        const std::uint64_t id = next_id++;
        open.emplace(id, connection{c, std::move(cancel)});
        return {id, std::move(ctx)};
    }
    // A handler returned (or its task was destroyed): forget the connection.
    void finished(std::uint64_t id) noexcept {
        if (!tracked) return;
        connection own;  // released outside the lock
        bool close_drained = false;
        {
            std::lock_guard guard(mu);
            if (auto it = open.find(id); it != open.end()) {
                own = std::move(it->second);
                open.erase(it);
            }
            if (draining && open.empty() && !drained_sent) close_drained = drained_sent = true;
        }
        own.cancel();  // detaches the handler's context from conn_ctx
        if (close_drained) drained.close();
    }
};

task<void> run_connection(std::shared_ptr<serve_state> st, std::uint64_t id, tcp_stream c, context ctx) {
    // Runs when the handler returns, throws (then the exception goes on to
    // be a panic, as it would have from the handler's own goroutine), or
    // when run() destroys this task at shutdown.
    struct forget {
        serve_state* st;
        std::uint64_t id;
        ~forget() { st->finished(id); }
    } const guard{st.get(), id};
    co_await st->handler(std::move(c), std::move(ctx));
}

bool transient_accept_error(const std::error_code& ec) noexcept {
    return ec == std::errc::too_many_files_open || ec == std::errc::too_many_files_open_in_system ||
           ec == std::errc::no_buffer_space || ec == std::errc::not_enough_memory;
}

// The accept loop of both serves. `ctx` bounds accepting (background() for
// plain serve). Returns the error that ended it: {} for a closed listener or
// a done ctx, else accept's error.
task<std::error_code> accept_loop(const tcp_listener& listener, const context& ctx,
                                  const std::shared_ptr<serve_state>& st, std::source_location site) {
    using namespace std::chrono_literals;
    std::chrono::milliseconds backoff{0};
    for (;;) {
        result<tcp_stream> c = co_await listener.accept(ctx);
        if (c) {
            backoff = 0ms;
            nodelay(c->native_handle());
            auto [id, conn_ctx] = st->add(*c);
            try {
                go(run_connection(st, id, std::move(*c), std::move(conn_ctx)), site);
            } catch (...) {
                st->finished(id);
                throw;
            }
            continue;
        }
        const std::error_code ec = c.error();
        if (ec == errc::closed || (ctx.err() && ec == ctx.err())) co_return std::error_code{};
        if (transient_accept_error(ec)) {
            // Out of descriptors or memory: back off and keep serving (Go's
            // net/http does the same), so the process recovers once
            // connections close. A ctx done meanwhile ends the sleep, and
            // the next accept fails at once with ctx.err().
            backoff = backoff == 0ms ? 5ms : std::min<std::chrono::milliseconds>(backoff * 2, 1s);
            (void)co_await sleep(backoff, ctx);
            continue;
        }
        if (ec == std::errc::connection_aborted || ec == std::errc::interrupted) continue;
        co_return ec;
    }
}

}  // namespace

task<result<void>> serve(tcp_listener listener, std::function<task<void>(tcp_stream)> handler,
                         std::source_location site) {
    auto st = std::make_shared<serve_state>();
    st->handler = [h = std::move(handler)](tcp_stream c, context) { return h(std::move(c)); };
    const std::error_code ec = co_await accept_loop(listener, background(), st, site);
    if (ec) co_return ec;
    co_return result<void>{};
}

task<result<void>> serve(tcp_listener listener, context ctx, std::chrono::nanoseconds grace,
                         std::function<task<void>(tcp_stream)> handler, std::source_location site) {
    return serve(std::move(listener), std::move(ctx), grace,
                 [h = std::move(handler)](tcp_stream c, context) { return h(std::move(c)); }, site);
}

task<result<void>> serve(tcp_listener listener, context ctx, std::chrono::nanoseconds grace,
                         std::function<task<void>(tcp_stream, context)> handler, std::source_location site) {
    auto st = std::make_shared<serve_state>();
    st->handler = std::move(handler);
    st->tracked = true;
    auto [conn_ctx, stop_handlers] = with_cancel(ctx);
    st->conn_ctx = conn_ctx;
    const std::error_code failure = co_await accept_loop(listener, ctx, st, site);

    // ---- shutdown: stop accepting, tell the handlers, wait up to `grace` ----
    (void)listener.close();
    stop_handlers();
    bool all_done;
    {
        std::lock_guard guard(st->mu);
        st->draining = true;
        all_done = st->open.empty();
        if (all_done) st->drained_sent = true;  // nobody is left to close `drained`
    }
    if (!all_done) {
        (void)co_await goro::select{st->drained.recv_case(), goro::timeout_case(grace)};
        // Closes what is still open, whichever case won: a connection that
        // finished meanwhile is no longer listed.
        std::vector<serve_state::connection> late;
        {
            std::lock_guard guard(st->mu);
            for (auto& [id, c] : st->open) late.push_back(c);
        }
        for (auto& c : late) {
            c.cancel();
            (void)c.stream.close();
        }
        if (!late.empty() && !failure) co_return make_error_code(context_errc::deadline_exceeded);
    }
    if (failure) co_return failure;
    co_return result<void>{};
}

}  // namespace goro::net
