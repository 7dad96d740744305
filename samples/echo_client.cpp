// echo_client — talks to echo_server: N clients at once, each sends a few
// lines and checks that every one comes back.
//
// Shows: tcp_stream::connect with a timeout, write_all, read_exact,
// close_write (a half-close: "I am done sending", the reply still flows),
// goro::spawn / join_handle to wait for a set of tasks.
//
// Run:  build-release/samples/echo_server &
//       build-release/samples/echo_client [host:port] [clients]   (default 127.0.0.1:7000, 8)
// Without a server running it starts its own on a free port, so it always
// terminates by itself.
#include <goro/goro.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

goro::task<bool> client(goro::net::address server, int id) {
    auto conn = co_await goro::net::tcp_stream::connect(server, 2s);
    if (!conn) {
        std::printf("client %d: connect: %s\n", id, conn.error().message().c_str());
        co_return false;
    }
    for (int i = 0; i < 3; ++i) {
        const std::string line = "client " + std::to_string(id) + " line " + std::to_string(i) + "\n";
        auto w = co_await conn->write_all(line);
        if (!w) co_return false;
        std::string back(line.size(), '\0');
        auto r = co_await conn->read_exact(back.data(), back.size());
        if (!r || back != line) {
            std::printf("client %d: bad echo (%s)\n", id, r ? "mismatch" : r.error().message().c_str());
            co_return false;
        }
        std::printf("%s", back.c_str());
    }
    (void)conn->close_write();     // half-close: the server sees EOF ...
    char c;
    auto eof = co_await conn->read(&c, 1);  // ... and closes its side: we read 0
    co_return eof && *eof == 0;
}

goro::task<void> local_echo(goro::net::tcp_stream c) {
    char buf[4096];
    for (;;) {
        auto n = co_await c.read(buf, sizeof buf);
        if (!n || *n == 0 || !(co_await c.write_all(buf, *n))) break;
    }
    (void)c.close();
}

goro::task<int> main_task(std::string addr, int clients) {
    auto server = goro::net::address::parse(addr).value();
    goro::net::tcp_listener own;
    if (auto probe = co_await goro::net::tcp_stream::connect(server, 1s); probe) {
        (void)probe->close();
    } else {
        std::printf("no server at %s (%s): starting one\n", addr.c_str(), probe.error().message().c_str());
        own = goro::net::tcp_listener::listen("127.0.0.1:0").value();
        server = own.local_address().value();
        goro::go(goro::net::serve(own, local_echo));
    }
    std::vector<goro::join_handle<bool>> hs;
    for (int i = 0; i < clients; ++i) hs.push_back(goro::spawn(client(server, i)));
    int ok = 0;
    for (auto& h : hs) ok += (co_await std::move(h)) ? 1 : 0;
    std::printf("%d/%d clients ok\n", ok, clients);
    if (own) (void)own.close();
    co_return ok == clients ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    return goro::run(main_task(argc > 1 ? argv[1] : "127.0.0.1:7000", argc > 2 ? std::atoi(argv[2]) : 8));
}
