// chat — a line-based chat room (after "The Go Programming Language" 8.10):
// one broadcaster task owns the set of clients; connection tasks talk to it
// only through channels, so no lock guards the set.
//
// Shows: goro::chan as the only shared state, a writer task per client fed
// by its own buffered channel, line reading over tcp_stream, and three
// scripted clients that join, say hello, hear everyone, and leave.
//
// Run:  build-release/samples/chat          (terminates by itself)
#include <goro/goro.hpp>

#include <goro/runtime/channel.hpp>

#include <cstdio>
#include <map>
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

goro::task<void> handle(goro::net::tcp_stream conn, int id, goro::chan<event> events) {
    goro::chan<std::string> out{16};
    goro::go(writer(conn, out));
    // Named events, not temporaries in the co_await: g++ 12 mishandles an
    // aggregate temporary passed by value inside a co_await expression.
    event enter{event::enter, id, out, {}};
    co_await events.send(std::move(enter));
    std::string pending;
    char buf[512];
    for (;;) {
        auto n = co_await conn.read(buf, sizeof buf);
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

goro::task<void> accept_loop(goro::net::tcp_listener l, goro::chan<event> events) {
    for (int id = 1;; ++id) {
        auto c = co_await l.accept();
        if (!c) co_return;  // listener closed
        goro::go(handle(std::move(*c), id, events));
    }
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

goro::task<int> main_task() {
    auto l = goro::net::tcp_listener::listen("127.0.0.1:0").value();
    goro::chan<event> events;
    goro::go(broadcaster(events));
    goro::go(accept_loop(l, events));
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
    (void)l.close();
    std::printf("everyone heard everyone; bye\n");
    co_return 0;
}

}  // namespace

int main() { return goro::run(main_task()); }
