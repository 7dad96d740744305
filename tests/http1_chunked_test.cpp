// Tests for goro::http::chunked_decoder (io/http1_chunked.hpp): the chunked
// transfer coding of request bodies, its extensions, trailers and limits.
// Every input is also decoded split at every byte (one byte more per read,
// and every two-piece split), and must give the same data and verdict as in
// one piece.
#include <catch2/catch.hpp>

#include <string>
#include <string_view>
#include <vector>

#include <goro/io/http1_chunked.hpp>

using goro::http::chunk_status;
using goro::http::chunked_decoder;
using namespace std::string_view_literals;

namespace {

const char* name_of(chunk_status s) {
    switch (s) {
    case chunk_status::data: return "data";
    case chunk_status::incomplete: return "incomplete";
    case chunk_status::done: return "done";
    case chunk_status::bad_request: return "bad_request";
    case chunk_status::too_large: return "too_large";
    }
    return "?";
}

struct outcome {
    std::string status;  // name_of the final status; "incomplete" if the input ran out
    std::string data;    // the decoded body
    std::string trailers;
    std::size_t consumed = 0;  // input bytes used in all

    bool operator==(const outcome&) const = default;
};

// Decodes `input` arriving in pieces of the given sizes (the last piece
// takes the rest), as a server would: unconsumed bytes are kept and the
// next piece appended to them. max_data bounds each data result.
outcome decode_in_pieces(std::string_view input, const std::vector<std::size_t>& pieces,
                         std::size_t max_data = static_cast<std::size_t>(-1)) {
    chunked_decoder d;
    outcome o;
    std::string pending;  // received, not consumed
    std::size_t fed = 0;
    std::size_t piece = 0;
    for (;;) {
        const auto r = d.decode(pending, max_data);
        REQUIRE(r.consumed <= pending.size());
        o.consumed += r.consumed;
        if (r.status == chunk_status::data) {
            REQUIRE(!r.data.empty());
            REQUIRE(r.data.size() <= max_data);
            o.data += r.data;
        }
        if (r.status == chunk_status::done) o.trailers = std::string(r.trailers);
        pending.erase(0, r.consumed);
        if (r.status == chunk_status::data) continue;
        if (r.status != chunk_status::incomplete) {
            o.status = name_of(r.status);
            return o;
        }
        if (fed == input.size()) {
            o.status = "incomplete";
            return o;
        }
        const std::size_t n = piece < pieces.size() ? std::min(pieces[piece++], input.size() - fed) : input.size() - fed;
        pending.append(input.substr(fed, n));
        fed += n;
    }
}

// The whole input at once, checked against byte-by-byte feeding and every
// split into two pieces.
outcome decode_checked(std::string_view input) {
    const outcome whole = decode_in_pieces(input, {input.size()});
    INFO("input: " << input);
    CHECK(decode_in_pieces(input, std::vector<std::size_t>(input.size(), 1)) == whole);
    CHECK(decode_in_pieces(input, {input.size()}, 1) == whole);  // one data byte per result
    for (std::size_t cut = 0; cut <= input.size() && input.size() <= 2000; ++cut) {
        INFO("split at " << cut);
        CHECK(decode_in_pieces(input, {cut}) == whole);
    }
    return whole;
}

std::string status_of(std::string_view input) { return decode_checked(input).status; }

}  // namespace

TEST_CASE("chunked: a body in chunks decodes to its bytes and ends at the empty line", "[http][chunked]") {
    const std::string body = "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    const outcome o = decode_checked(body + "GET / HTTP/1.1\r\n");  // a pipelined request follows
    CHECK(o.status == "done");
    CHECK(o.data == "hello world");
    CHECK(o.trailers.empty());
    CHECK(o.consumed == body.size());  // the next request is left alone

    CHECK(decode_checked("0\r\n\r\n").data.empty());
    CHECK(decode_checked("0\r\n\r\n").status == "done");
    CHECK(decode_checked("A\r\n0123456789\r\n0\r\n\r\n").data == "0123456789");
    CHECK(decode_checked("00a\r\n0123456789\r\n000\r\n\r\n").data == "0123456789");
    CHECK(decode_checked("1\r\n\0\r\n0\r\n\r\n"sv).data == "\0"sv);  // data bytes are not inspected
    CHECK(decode_checked("2\r\n\r\n\r\n0\r\n\r\n").data == "\r\n");
}

TEST_CASE("chunked: extensions are checked and ignored", "[http][chunked]") {
    for (std::string_view line : {"5;name"sv, "5;name=value"sv, "5;a=1;b;c=\"q\""sv, "5 ;a"sv, "5\t;\ta\t=\t1"sv,
                                  "5;a=\"with \\\"escapes\\\" and ; = inside\""sv, "5;a=\"\""sv,
                                  "5;a=\"tab\there\""sv, "5;a=\"obs\xc3\xa9\""sv, "5;!#$%&'*+-.^_`|~=x"sv}) {
        INFO(line);
        const outcome o = decode_checked(std::string(line) + "\r\nhello\r\n0;last=1\r\n\r\n");
        CHECK(o.status == "done");
        CHECK(o.data == "hello");
    }
}

TEST_CASE("chunked: trailers are handed over whole and split into fields", "[http][chunked]") {
    const std::string input = "3\r\nabc\r\n0\r\nX-Checksum: 900150983cd24fb0\r\nX-Empty:\r\nX-Pad:  a b \t\r\n\r\n";
    const outcome o = decode_checked(input);
    REQUIRE(o.status == "done");
    CHECK(o.data == "abc");
    CHECK(o.consumed == input.size());
    CHECK(o.trailers == "X-Checksum: 900150983cd24fb0\r\nX-Empty:\r\nX-Pad:  a b \t\r\n");
    std::vector<std::string> fields;
    goro::http::for_each_trailer(o.trailers, [&](goro::http::header_field f) {
        fields.push_back(std::string(f.name) + "=" + std::string(f.value));
    });
    CHECK(fields == std::vector<std::string>{"X-Checksum=900150983cd24fb0", "X-Empty=", "X-Pad=a b"});
}

TEST_CASE("chunked: malformed framing is a 400", "[http][chunked]") {
    for (std::string_view input : {
             "\r\n"sv,                              // no size
             "g\r\n"sv,                             // not hex
             "-5\r\nhello\r\n0\r\n\r\n"sv,          // sign
             "0x5\r\nhello\r\n0\r\n\r\n"sv,         // prefix
             "+5\r\n"sv,
             " 5\r\n"sv,                            // leading whitespace
             "5 \r\nhello\r\n0\r\n\r\n"sv,          // trailing whitespace without an extension
             "5;a \r\nhello\r\n0\r\n\r\n"sv,        // trailing whitespace after an extension
             "5;\r\n"sv,                            // empty extension name
             "5;=1\r\n"sv,
             "5;a=\r\n"sv,                          // empty value
             "5;a=b c\r\n"sv,
             "5;a=\"open\r\n"sv,                    // unterminated quoted string
             "5;a=\"x\"y\r\n"sv,
             "5;a=\"\x01\"\r\n"sv,                  // control byte in a quoted string
             "5;a(b)\r\n"sv,                        // not a token
             "5\nhello\r\n0\r\n\r\n"sv,             // bare LF
             "5\r\r\nhello\r\n"sv,                  // lone CR
             "5\r\nhelloX\r\n0\r\n\r\n"sv,          // data longer than its size
             "5\r\nhello\n0\r\n\r\n"sv,             // data not ended by CR LF
             "5\r\nhello\rX"sv,
             "5\r\nhel\r\n0\r\n\r\n"sv,             // data shorter: "\r\n0\r" taken as data, then junk
             "10000000000000000\r\n"sv,             // 2^64: does not fit
             "99999999999999999999\r\n"sv,
             "0\r\n\n"sv,                           // bare LF ending the trailers
             "0\r\nX-A: 1\n\r\n"sv,
             "0\r\n folded: x\r\n\r\n"sv,           // obs-fold / leading whitespace
             "0\r\nX-A : 1\r\n\r\n"sv,              // space before the colon
             "0\r\nNoColon\r\n\r\n"sv,
             "0\r\nX-A: a\x01\r\n\r\n"sv,           // control byte in a value
             "0\r\nX-A: a\rb\r\n\r\n"sv,
             "0\r\n\r\r\n"sv,
         }) {
        INFO(input);
        CHECK(status_of(input) == "bad_request");
    }
    // The largest size that fits 64 bits is well-formed (its data never comes).
    CHECK(status_of("ffffffffffffffff\r\nabc") == "incomplete");
    CHECK(status_of("0000000000000000000000000001\r\nx\r\n0\r\n\r\n") == "done");  // leading zeros are not digits that overflow
}

TEST_CASE("chunked: a chunk-size line over k_max_chunk_line is a 400, judged before its end arrives", "[http][chunked]") {
    using goro::http::k_max_chunk_line;
    // A line of exactly the limit (its CR LF included) is fine.
    const std::string ext = "1;x=" + std::string(k_max_chunk_line - 4 - 2, 'a');
    REQUIRE(ext.size() + 2 == k_max_chunk_line);
    CHECK(decode_in_pieces(ext + "\r\nz\r\n0\r\n\r\n", {9999}).data == "z");
    CHECK(decode_in_pieces(ext + "a\r\nz\r\n0\r\n\r\n", {9999}).status == "bad_request");
    // No LF within the limit: bad at once, however little has arrived beyond it.
    const std::string open = "1;x=" + std::string(k_max_chunk_line, 'a');
    chunked_decoder d;
    CHECK(d.decode(std::string_view(open).substr(0, k_max_chunk_line - 1)).status == chunk_status::incomplete);
    CHECK(d.decode(std::string_view(open).substr(0, k_max_chunk_line)).status == chunk_status::bad_request);
    // Sticky: every later call says the same.
    CHECK(d.decode("0\r\n\r\n").status == chunk_status::bad_request);
}

TEST_CASE("chunked: the trailer section is limited in size and fields", "[http][chunked]") {
    using goro::http::k_max_trailer_size;
    using goro::http::k_max_trailers;
    // Exactly k_max_trailer_size bytes, final CR LF included: accepted.
    std::string section = "X-T: " + std::string(k_max_trailer_size - 5 - 4, 'v') + "\r\n\r\n";
    REQUIRE(section.size() == k_max_trailer_size);
    CHECK(decode_in_pieces("0\r\n" + section, {99999}).status == "done");
    CHECK(decode_in_pieces("0\r\nX" + section, {99999}).status == "too_large");
    CHECK(decode_in_pieces("0\r\n" + std::string(k_max_trailer_size, 'X'), {99999}).status == "too_large");
    CHECK(decode_in_pieces("0\r\n" + std::string(k_max_trailer_size - 1, 'X'), {99999}).status == "incomplete");

    auto with_fields = [](std::size_t n) {
        std::string s = "0\r\n";
        for (std::size_t i = 0; i < n; ++i) s += "T" + std::to_string(i) + ": v\r\n";
        return s + "\r\n";
    };
    CHECK(status_of(with_fields(k_max_trailers)) == "done");
    CHECK(status_of(with_fields(k_max_trailers + 1)) == "too_large");
}

TEST_CASE("chunked: many tiny chunks with large extensions are refused (Go's excess rule)", "[http][chunked]") {
    // Each chunk: a ~1 KiB size line for one data byte. Go's rule lets the
    // overhead run 16 KiB ahead of the data, so this fails after ~17 chunks.
    std::string abusive;
    for (int i = 0; i < 40; ++i) abusive += "1;pad=" + std::string(1000, 'p') + "\r\nx\r\n";
    abusive += "0\r\n\r\n";
    const outcome o = decode_in_pieces(abusive, {abusive.size()});
    CHECK(o.status == "bad_request");
    CHECK(o.data.size() < 40);

    // Plain small chunks cost less than they give back, however many.
    std::string many;
    for (int i = 0; i < 20000; ++i) many += "1\r\nx\r\n";
    many += "0\r\n\r\n";
    const outcome m = decode_in_pieces(many, {many.size()});
    CHECK(m.status == "done");
    CHECK(m.data == std::string(20000, 'x'));

    // Large extensions on large chunks are paid for by their data.
    std::string big;
    for (int i = 0; i < 50; ++i) big += "400;pad=" + std::string(1000, 'p') + "\r\n" + std::string(0x400, 'd') + "\r\n";
    big += "0\r\n\r\n";
    CHECK(decode_in_pieces(big, {big.size()}).status == "done");
}

TEST_CASE("chunked: data can be read in place, the decoder only counting it", "[http][chunked]") {
    chunked_decoder d;
    auto r = d.decode("a\r\n01");
    REQUIRE(r.status == chunk_status::data);
    CHECK(r.data == "01");
    CHECK(r.consumed == 5);
    CHECK(d.chunk_remaining() == 8);
    // The next eight bytes were read straight into the caller's buffer.
    const std::string direct = "23456789";
    r = d.decode(direct, direct.size());
    REQUIRE(r.status == chunk_status::data);
    CHECK(r.data.data() == direct.data());
    CHECK(r.data.size() == 8);
    CHECK(d.chunk_remaining() == 0);
    r = d.decode("\r\n0\r\n\r\n");
    CHECK(r.status == chunk_status::done);
    CHECK(r.consumed == 7);
    CHECK(d.finished());
    // After the end: done again, nothing consumed.
    r = d.decode("more");
    CHECK(r.status == chunk_status::done);
    CHECK(r.consumed == 0);
}
