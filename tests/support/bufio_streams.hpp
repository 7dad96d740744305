// Streams shared by the goro::bufio tests (bufio_reader_test,
// bufio_writer_test): a connected TCP or Unix pair of either kind, and an
// in-memory sink that records what the buffered writer asks of it.
//
//     auto p = co_await goro_test::make_pair(static_cast<Stream*>(nullptr));  // p.w -> p.r
//     goro_test::recording_sink sink;  // sink.data, sink.writes
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <system_error>
#include <vector>

#include <goro/goro.hpp>

#include "io_runtime.hpp"

namespace goro_test {

// A connected (writer end, reader end) of either kind.
template <typename Stream>
struct stream_pair {
    Stream w;
    Stream r;
};

inline goro::task<stream_pair<goro::net::tcp_stream>> make_pair(goro::net::tcp_stream*) {
    auto p = co_await tcp_pair();
    co_return stream_pair<goro::net::tcp_stream>{p.client, p.server};
}
inline goro::task<stream_pair<goro::net::unix_stream>> make_pair(goro::net::unix_stream*) {
    auto p = goro::net::unix_stream::pair().value();
    co_return stream_pair<goro::net::unix_stream>{p.first, p.second};
}

// A sink recording each write's size; accepts at most `max_accept` bytes per
// write; fails every write with `fail` once set.
struct recording_sink {
    std::string data;
    std::vector<std::size_t> writes;
    std::size_t max_accept = ~std::size_t{0};
    std::error_code fail{};

    goro::task<goro::result<std::size_t>> write(const void* p, std::size_t n) {
        writes.push_back(n);
        if (fail) co_return fail;
        const std::size_t k = std::min(n, max_accept);
        data.append(static_cast<const char*>(p), k);
        co_return k;
    }
};

}  // namespace goro_test
