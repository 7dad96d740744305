// goro::net::resolve — getaddrinfo on the blocking pool.
#include <netdb.h>
#include <sys/socket.h>

#include <cerrno>

#include "../runtime/blocking.hpp"
#include "net.hpp"

namespace goro::net {

task<result<std::vector<address>>> resolve(std::string host, std::uint16_t port) {
    // A numeric host needs no lookup.
    std::string literal = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    if (result<address> a = address::parse(literal + ":" + std::to_string(port)))
        co_return std::vector<address>{*a};
    struct outcome {
        int rc = 0;
        int err = 0;
        std::vector<address> list;
    };
    outcome o = co_await goro::blocking([&] {
        outcome r;
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
    });
    if (o.rc == EAI_SYSTEM) co_return std::error_code(o.err, std::system_category());
    if (o.rc == EAI_NONAME || o.rc == EAI_NODATA || (o.rc == 0 && o.list.empty()))
        co_return std::make_error_code(std::errc::no_such_device_or_address);  // Go: "no such host"
    if (o.rc == EAI_AGAIN) co_return std::make_error_code(std::errc::resource_unavailable_try_again);
    if (o.rc == EAI_MEMORY) co_return std::make_error_code(std::errc::not_enough_memory);
    if (o.rc != 0) co_return std::make_error_code(std::errc::host_unreachable);
    co_return std::move(o.list);
}

task<result<std::vector<address>>> resolve(std::string_view text) {
    result<host_port> hp = split_host_port(text);
    if (!hp) co_return hp.error();
    co_return co_await resolve(std::string(hp->host), hp->port);
}

}  // namespace goro::net
