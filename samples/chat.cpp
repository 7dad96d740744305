// chat — a line-based chat room (after "The Go Programming Language" 8.10):
// one broadcaster task owns the set of clients; connection tasks talk to it
// only through channels, so no lock guards the set.
//
// Shows: goro::chan as the only shared state, a writer task per client fed
// by its own buffered channel, line reading over tcp_stream, goro::net::serve
// with a context (its shutdown tells every client task, which then leaves),
// and either three scripted clients that join, say hello, hear everyone,
// and leave, or a server for real clients until Ctrl-C.
//
// Run:  build-release/samples/chat                  (scripted; terminates by itself)
//       build-release/samples/chat 127.0.0.1:8000   (serves until Ctrl-C or SIGTERM)
//       then, in other terminals: nc 127.0.0.1 8000
#include <goro/goro.hpp>

#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string_view>
#include <string>
#include <vector>

namespace {

struct event {
    enum kind_t { enter, leave, message } kind;
    int id = 0;
    goro::chan<std::string> out;  // enter: the client's outgoing channel
    std::string text;             // message: the line to broadcast
};

std::string welcome(int id) {
    std::string s = "welcome, you are #";
    s += std::to_string(id);
    s += '\n';
    return s;
}

std::string said(int id, std::string_view line) {
    std::string s = "#";
    s += std::to_string(id);
    s += ": ";
    s += line;
    return s;
}

goro::task<void> broadcaster(goro::chan<event> events) {
    std::map<int, goro::chan<std::string>> clients;
    for (;;) {
        // (g++ 12 mishandles a co_await in a while-condition declaration.)
        std::optional<event> e = co_await events.recv();
        if (!e) break;
        switch (e->kind) {
        case event::enter:
            clients.emplace(e->id, e->out);
            co_await e->out.send(welcome(e->id));
            break;
        case event::leave:
            if (auto it = clients.find(e->id); it != clients.end()) {
                it->second.close();
                clients.erase(it);
            }
            break;
        case event::message:
            for (auto& [id, out] : clients) co_await out.send(e->text);
            break;
        }
    }
}

goro::task<void> writer(goro::net::tcp_stream conn, goro::chan<std::string> out) {
    for (;;) {
        std::optional<std::string> line = co_await out.recv();
        if (!line) break;
        auto w = co_await conn.write_all(*line);
        if (!w) break;
    }
}

// One client; `ctx` is done when the server shuts down (the read gives up).
goro::task<void> handle(goro::net::tcp_stream conn, int id, goro::chan<event> events, goro::context ctx) {
    goro::chan<std::string> out{16};
    goro::go(writer(conn, out));
    // Named events, not temporaries in the co_await: g++ 12 mishandles an
    // aggregate temporary passed by value inside a co_await expression.
    event enter{event::enter, id, out, {}};
    co_await events.send(std::move(enter));
    std::string pending;
    char buf[512];
    for (;;) {
        auto n = co_await conn.read(buf, sizeof buf, ctx);
        if (!n || *n == 0) break;
        pending.append(buf, *n);
        for (std::size_t eol; (eol = pending.find('\n')) != std::string::npos; pending.erase(0, eol + 1)) {
            event msg{event::message, id, goro::chan<std::string>::nil(), said(id, std::string_view(pending).substr(0, eol + 1))};
            co_await events.send(std::move(msg));
        }
    }
    event leave{event::leave, id, goro::chan<std::string>::nil(), {}};
    co_await events.send(std::move(leave));
    (void)conn.close_write();
}

// The chat server: a broadcaster, and a handler task per client until ctx
// is done; then the clients get 5 s to leave.
goro::task<goro::result<void>> chat_server(goro::net::tcp_listener l, goro::context ctx) {
    goro::chan<event> events;
    auto room = goro::spawn(broadcaster(events));
    auto next_id = std::make_shared<std::atomic<int>>(0);
    // A named handler, not a lambda built inside the co_await expression:
    // g++ 12 destroys such a temporary twice (README, Known limits).
    std::function<goro::task<void>(goro::net::tcp_stream, goro::context)> handler =
        [events, next_id](goro::net::tcp_stream c, goro::context cctx) {
            return handle(std::move(c), ++*next_id, events, std::move(cctx));
        };
    auto served = co_await goro::net::serve(l, ctx, std::chrono::seconds(5), std::move(handler));
    if (served) {  // every client task has left the room: close it
        events.close();
        co_await std::move(room);
    }
    co_return served;
}

// Reads one '\n'-terminated line (buffering the rest); "" at EOF or error.
goro::task<std::string> read_line(goro::net::tcp_stream& c, std::string& buf) {
    for (;;) {
        if (auto eol = buf.find('\n'); eol != std::string::npos) {
            std::string line = buf.substr(0, eol + 1);
            buf.erase(0, eol + 1);
            co_return line;
        }
        char tmp[256];
        auto n = co_await c.read(tmp, sizeof tmp);
        if (!n || *n == 0) co_return "";
        buf.append(tmp, *n);
    }
}

struct member {
    goro::net::tcp_stream conn;
    std::string buf;
};

// A scripted client: says hello, waits until it has heard `people` hellos.
goro::task<void> talk(member& m, int people) {
    (void)co_await m.conn.write_all("hello, everyone\n");
    for (int heard = 0; heard < people;) {
        std::string line = co_await read_line(m.conn, m.buf);
        if (line.empty()) break;
        std::printf("  client %s heard %s", std::string(m.conn.local_address()->to_string()).c_str(), line.c_str());
        if (line.find("hello") != std::string::npos) ++heard;
    }
    (void)m.conn.close();
}

goro::task<int> scripted() {
    auto l = goro::net::tcp_listener::listen("127.0.0.1:0").value();
    auto [ctx, cancel] = goro::with_cancel(goro::background());
    auto server = goro::spawn(chat_server(l, ctx));
    const int people = 3;
    std::vector<member> members(people);
    for (auto& m : members) {
        m.conn = (co_await goro::net::tcp_stream::connect(l.local_address().value())).value();
        // Once the welcome arrives, the broadcaster knows this client.
        std::printf("%s", (co_await read_line(m.conn, m.buf)).c_str());
    }
    std::vector<goro::join_handle<void>> talks;
    for (auto& m : members) talks.push_back(goro::spawn(talk(m, people)));
    for (auto& t : talks) co_await std::move(t);
    cancel();
    auto served = co_await std::move(server);
    std::printf("everyone heard everyone; bye\n");
    co_return served ? 0 : 1;
}

goro::task<int> serve_until_stopped(std::string addr) {
    // Before listening: a signal that comes as soon as we say "listening" is ours.
    auto [ctx, stop] = goro::signal::notify_context(goro::background(), {SIGINT, SIGTERM});
    auto l = goro::net::tcp_listener::listen(addr);
    if (!l) {
        std::fprintf(stderr, "chat: listen %s: %s\n", addr.c_str(), l.error().message().c_str());
        co_return 1;
    }
    const std::string where = l->local_address()->to_string();
    std::printf("listening %s\n", where.c_str());
    std::printf("join with: nc %s %s; press Ctrl-C to stop\n", where.substr(0, where.rfind(':')).c_str(),
                where.substr(where.rfind(':') + 1).c_str());
    std::fflush(stdout);
    auto served = co_await chat_server(std::move(*l), ctx);
    std::printf("stopped (%s)\n", goro::cause(ctx).message().c_str());
    if (!served) std::fprintf(stderr, "chat: %s\n", served.error().message().c_str());
    co_return served ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) { return goro::run(argc > 1 ? serve_until_stopped(argv[1]) : scripted()); }
