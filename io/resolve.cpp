// goro::net::resolve — getaddrinfo on the blocking pool.
#include <netdb.h>
#include <sys/socket.h>

#include <cerrno>
#include <optional>

#include "../runtime/blocking.hpp"
#include "../runtime/channel.hpp"
#include "../runtime/go.hpp"
#include "../runtime/select.hpp"
#include "detail/listen_address.hpp"
#include "net.hpp"

namespace goro::net {

namespace {

// getaddrinfo's answer, as the blocking call returns it.
struct lookup_outcome {
    int rc = 0;
    int err = 0;
    std::vector<address> list;
};

// Runs on a blocking-pool thread.
lookup_outcome lookup(const std::string& host, std::uint16_t port) {
    lookup_outcome r;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    addrinfo* res = nullptr;
    r.rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &res);
    r.err = errno;
    if (r.rc == 0) {
        for (addrinfo* ai = res; ai; ai = ai->ai_next) {
            address a = address::from_sockaddr(ai->ai_addr, ai->ai_addrlen);
            a.set_port(port);
            r.list.push_back(a);
        }
        ::freeaddrinfo(res);
    }
    return r;
}

result<std::vector<address>> to_result(lookup_outcome o) {
    if (o.rc == EAI_SYSTEM) return std::error_code(o.err, std::system_category());
    if (o.rc == EAI_NONAME || o.rc == EAI_NODATA || (o.rc == 0 && o.list.empty()))
        return make_error_code(errc::no_such_host);  // Go: "no such host"
    if (o.rc == EAI_AGAIN) return std::make_error_code(std::errc::resource_unavailable_try_again);
    if (o.rc == EAI_MEMORY) return std::make_error_code(std::errc::not_enough_memory);
    if (o.rc != 0) return std::make_error_code(std::errc::host_unreachable);
    return std::move(o.list);
}

// A numeric host needs no lookup.
std::optional<address> numeric(const std::string& host, std::uint16_t port) {
    const std::string literal = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    if (result<address> a = address::parse(literal + ":" + std::to_string(port))) return *a;
    return std::nullopt;
}

// The lookup of a cancellable resolve runs in its own task, which owns what
// the blocking call uses: when the context is done first the caller returns
// and the lookup finishes later with nobody waiting (getaddrinfo cannot be
// interrupted); its answer goes into a one-slot channel that never blocks.
task<> detached_lookup(std::string host, std::uint16_t port, chan<lookup_outcome> answer) {
    lookup_outcome o = co_await goro::blocking([&] { return lookup(host, port); });
    (void)answer.try_send(std::move(o));
}

}  // namespace

task<result<std::vector<address>>> resolve(std::string host, std::uint16_t port) {
    if (std::optional<address> a = numeric(host, port)) co_return std::vector<address>{*a};
    lookup_outcome o = co_await goro::blocking([&] { return lookup(host, port); });
    co_return to_result(std::move(o));
}

task<result<std::vector<address>>> resolve(std::string host, std::uint16_t port, context ctx, std::source_location site) {
    if (std::error_code e = ctx.err()) co_return e;
    if (std::optional<address> a = numeric(host, port)) co_return std::vector<address>{*a};
    if (ctx.done().is_nil()) co_return co_await resolve(std::move(host), port);  // never cancelled: no detached task
    chan<lookup_outcome> answer(std::size_t{1});
    goro::go(detached_lookup(std::move(host), port, answer), site);
    std::optional<lookup_outcome> got;
    co_await goro::select(answer.recv_case([&](std::optional<lookup_outcome> v) { got = std::move(v); }),
                          ctx.done().recv_case());
    if (!got) co_return ctx.err();
    co_return to_result(std::move(*got));
}

task<result<std::vector<address>>> resolve(std::string_view text) {
    result<host_port> hp = split_host_port(text);
    if (!hp) co_return hp.error();
    co_return co_await resolve(std::string(hp->host), hp->port);
}

task<result<std::vector<address>>> resolve(std::string_view text, context ctx, std::source_location site) {
    result<host_port> hp = split_host_port(text);
    if (!hp) co_return hp.error();
    co_return co_await resolve(std::string(hp->host), hp->port, std::move(ctx), site);
}

namespace detail {

result<listen_address> listen_address_for(std::string_view text, int socktype) {
    result<net::host_port> hp = split_host_port(text);
    if (!hp) return hp.error();
    if (hp->host.empty()) return listen_address{address::any_v6(hp->port), true};
    result<address> a = address::parse(text);
    if (a) return listen_address{*a, false};
    if (a.error() != errc::host_name_needs_resolve) return a.error();
    // A host name: looked up here, on the calling thread (see the header).
    const std::string host(hp->host);
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = socktype;
    hints.ai_flags = AI_ADDRCONFIG;
    addrinfo* res = nullptr;
    lookup_outcome o;
    o.rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &res);
    o.err = errno;
    if (o.rc == 0) {
        if (res) {
            address first = address::from_sockaddr(res->ai_addr, res->ai_addrlen);
            first.set_port(hp->port);
            o.list.push_back(first);
        }
        ::freeaddrinfo(res);
    }
    result<std::vector<address>> found = to_result(std::move(o));
    if (!found) return found.error();
    return listen_address{found->front(), false};
}

}  // namespace detail

}  // namespace goro::net
