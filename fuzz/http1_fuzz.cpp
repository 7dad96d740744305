// libFuzzer target for goro::http::parse_request (io/http1.hpp).
//
// Parses arbitrary bytes as a request head and checks the parser's promises:
//   * `consumed` is 0 unless complete; when complete it is > 0, at most the
//     buffer and k_max_head_size, and the head ends in CR LF CR LF;
//   * every view in the request lies inside the consumed bytes; names are
//     tokens, values have no CR, LF or surrounding whitespace;
//   * incremental == whole: for inputs up to k_prefix_limit bytes, every
//     prefix is `incomplete` until the first final verdict, and that verdict
//     and every longer prefix's equal the whole-buffer result, field by
//     field. Each prefix is copied into its own exactly-sized allocation, so
//     AddressSanitizer catches a read past the end of a prefix too;
//   * pipelining: the bytes after a complete head parse again, same rules.
// The response writers get the parsed strings as input as well.
//
// After a complete head with Transfer-Encoding: chunked, the bytes that follow
// go through the chunked decoder (io/http1_chunked.hpp), which must keep its
// own promises: data and trailers are views of the input; `incomplete`
// leaves fewer unconsumed bytes than the decoder's line limits; and the data,
// the trailers, the bytes consumed and the final status are the same
// whether the input comes whole, one data byte per result, or (for inputs
// up to k_prefix_limit bytes) one byte per read.
//
// Build and run (clang only; the fuzzer runtime is Debian's libclang-rt-19-dev):
//   CXX=clang++-19 meson setup build-fuzz -Dfuzz=true -Dtests=false && ninja -C build-fuzz http1_fuzz
//   build-fuzz/http1_fuzz -max_total_time=60 -dict=fuzz/http1.dict -max_len=9000 /tmp/http1_corpus fuzz/corpus
// (new inputs go to the first directory; keep fuzz/corpus for small seeds).
// Every build also runs this target over fuzz/corpus as a plain test
// (tests/http1_corpus_test.cpp).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include <goro/io/http1.hpp>
#include <goro/io/http1_chunked.hpp>

namespace {

using goro::http::parse_status;
using goro::http::request;

constexpr std::size_t k_prefix_limit = 600;

[[noreturn]] void broken(const char* what, int line) {
    std::fprintf(stderr, "http1_fuzz: invariant broken at line %d: %s\n", line, what);
    std::abort();
}

#define FUZZ_CHECK(cond)                        \
    do {                                        \
        if (!(cond)) broken(#cond, __LINE__);   \
    } while (0)

bool inside(std::string_view part, std::string_view whole) {
    return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

bool is_tchar(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// Offsets of the request's views, to compare parses of different copies.
struct shape {
    parse_status status;
    std::size_t consumed;
    std::size_t method_at, method_len, target_at, target_len;
    int version_minor;
    bool keep_alive, chunked;
    std::size_t content_length, header_count;

    bool operator==(const shape&) const = default;
};

shape shape_of(parse_status s, std::size_t consumed, const request& r, const char* base) {
    shape out{};
    out.status = s;
    out.consumed = consumed;
    if (s == parse_status::complete) {
        out.method_at = static_cast<std::size_t>(r.method.data() - base);
        out.method_len = r.method.size();
        out.target_at = static_cast<std::size_t>(r.target.data() - base);
        out.target_len = r.target.size();
        out.version_minor = r.version_minor;
        out.keep_alive = r.keep_alive;
        out.chunked = r.chunked;
        out.content_length = r.content_length;
        out.header_count = r.header_count;
    }
    return out;
}

void check_result(std::string_view buf, parse_status s, const request& r, std::size_t consumed) {
    if (s != parse_status::complete) {
        FUZZ_CHECK(consumed == 0);
        if (s == parse_status::incomplete) {
            FUZZ_CHECK(buf.size() < goro::http::k_max_head_size);
            FUZZ_CHECK(goro::http::error_response(s).empty());
        } else {
            FUZZ_CHECK(!goro::http::error_response(s).empty());
            FUZZ_CHECK(goro::http::status_code(s) >= 400);
        }
        return;
    }
    FUZZ_CHECK(consumed > 0);
    FUZZ_CHECK(consumed <= buf.size());
    FUZZ_CHECK(consumed <= goro::http::k_max_head_size);
    const std::string_view head = buf.substr(0, consumed);
    FUZZ_CHECK(head.size() >= 4 && head.substr(head.size() - 4) == "\r\n\r\n");
    FUZZ_CHECK(!r.method.empty() && inside(r.method, head));
    FUZZ_CHECK(!r.target.empty() && inside(r.target, head));
    for (char c : r.method) FUZZ_CHECK(is_tchar(c));
    for (char c : r.target) FUZZ_CHECK(static_cast<unsigned char>(c) > 0x20 && c != 0x7f);
    FUZZ_CHECK(r.version_minor == 0 || r.version_minor == 1);
    FUZZ_CHECK(r.header_count <= goro::http::k_max_headers);
    FUZZ_CHECK(!(r.chunked && r.content_length != 0));
    FUZZ_CHECK(!(r.chunked && r.version_minor == 0));
    if (r.version_minor == 1) FUZZ_CHECK(r.header("host").has_value());
    for (const auto& h : r.headers()) {
        FUZZ_CHECK(!h.name.empty() && inside(h.name, head));
        FUZZ_CHECK(h.value.empty() || inside(h.value, head));
        for (char c : h.name) FUZZ_CHECK(is_tchar(c));
        for (char c : h.value) FUZZ_CHECK(c != '\r' && c != '\n' && c != '\0');
        if (!h.value.empty()) {
            FUZZ_CHECK(h.value.front() != ' ' && h.value.front() != '\t');
            FUZZ_CHECK(h.value.back() != ' ' && h.value.back() != '\t');
        }
        auto found = r.header(h.name);
        FUZZ_CHECK(found.has_value());
    }

    // The writers must stay inside their buffer whatever they are given.
    static char out[16384];
    const auto ct = r.header("content-type").value_or("");
    std::size_t n = goro::http::format_response(out, sizeof out, 200, "", ct, r.target, r.keep_alive);
    FUZZ_CHECK(n <= sizeof out);
    if (n != 0) FUZZ_CHECK(std::string_view(out, n).ends_with(r.target));
    n = goro::http::format_response(out, 64, 404, r.method, "", r.target, false);
    FUZZ_CHECK(n <= 64);
}

// Parses a private, exactly-sized copy of buf[0, n).
shape parse_prefix(std::string_view buf, std::size_t n) {
    auto copy = std::make_unique<char[]>(n == 0 ? 1 : n);
    if (n != 0) std::memcpy(copy.get(), buf.data(), n);
    const std::string_view prefix(copy.get(), n);
    request r;
    std::size_t consumed = 999999;
    parse_status s = goro::http::parse_request(prefix, r, consumed);
    check_result(prefix, s, r, consumed);
    return shape_of(s, consumed, r, copy.get());
}

void check_one(std::string_view buf) {
    request r;
    std::size_t consumed = 999999;
    const parse_status s = goro::http::parse_request(buf, r, consumed);
    check_result(buf, s, r, consumed);
    const shape whole = shape_of(s, consumed, r, buf.data());

    if (buf.size() <= k_prefix_limit) {
        bool decided = false;
        for (std::size_t n = 0; n <= buf.size(); ++n) {
            shape p = parse_prefix(buf, n);
            if (!decided && p.status == parse_status::incomplete) continue;
            decided = true;
            FUZZ_CHECK(p == whole);
        }
        if (!decided) FUZZ_CHECK(whole.status == parse_status::incomplete);
    } else if (s != parse_status::incomplete) {
        // Spot checks: a verdict reached by the whole buffer survives more bytes.
        if (s == parse_status::complete) FUZZ_CHECK(parse_prefix(buf, consumed) == whole);
        FUZZ_CHECK(parse_prefix(buf, buf.size() - 1).status == parse_status::incomplete ||
                   parse_prefix(buf, buf.size() - 1) == whole);
    }
}

// Decodes `input` read `step` bytes at a time (0: all at once), with at
// most max_data bytes per data result, as the server does: unconsumed bytes
// are kept and the next read appended.
struct chunked_outcome {
    goro::http::chunk_status status;
    std::string data, trailers;
    std::size_t consumed;
    bool operator==(const chunked_outcome&) const = default;
};

chunked_outcome decode_chunked(std::string_view input, std::size_t step, std::size_t max_data) {
    using goro::http::chunk_status;
    goro::http::chunked_decoder d;
    chunked_outcome o{chunk_status::incomplete, {}, {}, 0};
    std::string pending;
    std::size_t fed = 0;
    for (;;) {
        const auto r = d.decode(pending, max_data);
        FUZZ_CHECK(r.consumed <= pending.size());
        o.consumed += r.consumed;
        if (r.status == chunk_status::data) {
            FUZZ_CHECK(!r.data.empty() && r.data.size() <= max_data);
            FUZZ_CHECK(inside(r.data, pending));
            o.data += r.data;
            pending.erase(0, r.consumed);
            continue;
        }
        if (r.status == chunk_status::done) {
            FUZZ_CHECK(r.trailers.empty() || inside(r.trailers, pending));
            FUZZ_CHECK(d.finished());
            o.trailers = std::string(r.trailers);
            goro::http::for_each_trailer(o.trailers, [](goro::http::header_field f) {
                FUZZ_CHECK(!f.name.empty());
                for (char c : f.name) FUZZ_CHECK(is_tchar(c));
                for (char c : f.value) FUZZ_CHECK(c != '\r' && c != '\n' && c != '\0');
            });
        }
        if (r.status != chunk_status::incomplete) {
            o.status = r.status;
            return o;
        }
        // The promise the server's fixed buffer rests on.
        FUZZ_CHECK(pending.size() - r.consumed < std::max(goro::http::k_max_chunk_line, goro::http::k_max_trailer_size));
        pending.erase(0, r.consumed);
        if (fed == input.size()) return o;
        const std::size_t n = step == 0 ? input.size() - fed : std::min(step, input.size() - fed);
        pending.append(input.substr(fed, n));
        fed += n;
    }
}

void check_chunked(std::string_view body) {
    const chunked_outcome whole = decode_chunked(body, 0, static_cast<std::size_t>(-1));
    FUZZ_CHECK(whole.consumed <= body.size());
    FUZZ_CHECK(decode_chunked(body, 0, 1) == whole);
    if (body.size() <= k_prefix_limit) FUZZ_CHECK(decode_chunked(body, 1, static_cast<std::size_t>(-1)) == whole);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view buf(reinterpret_cast<const char*>(data), size);
    // Parse the input, then whatever follows each complete head (pipelining).
    for (int i = 0; i < 8; ++i) {
        check_one(buf);
        request r;
        std::size_t consumed = 0;
        if (goro::http::parse_request(buf, r, consumed) != parse_status::complete) break;
        buf.remove_prefix(consumed);
        if (r.chunked) check_chunked(buf);
    }
    return 0;
}
