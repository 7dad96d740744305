// goro::bufio — Go's bufio package: a buffered reader (read_line,
// read_until, peek), a line scanner with a maximum line length, and a
// buffered writer with flush, over any goro byte stream (TCP, Unix, file).
//
//     goro::bufio::scanner sc(conn);                 // Go's bufio.NewScanner
//     while (co_await sc.scan()) handle(sc.text());  // lines, "\n" / "\r\n" dropped
//     if (sc.error()) ...                            // errc::too_long, a read error
//
//     goro::bufio::reader r(conn);                   // Go's bufio.NewReader
//     auto line = co_await r.read_line();            // io_errc::eof at the end
//
//     goro::bufio::writer w(conn);                   // Go's bufio.NewWriter
//     auto ok = co_await w.write_string("HELLO\r\n");
//     auto done = co_await w.flush();                // nothing is sent before a flush
//                                                    // or a full buffer
//
// The namespace is goro::bufio, as Go's package name (goro::net, goro::fs
// follow the same rule), so Go code reads across one for one.
//
// Streams. reader and scanner read from any Stream with
//     co_await s.read(void* data, std::size_t size) -> goro::result<std::size_t>
// (one read, at most size bytes, 0 at end of stream): goro::net::tcp_stream,
// unix_stream, goro::fs::file (reading at its cursor), file_at (reading at
// an offset of its own: bufio_file_at.hpp), and a bufio::reader itself.
// writer writes to any Stream with co_await s.write(const void* data,
// std::size_t size) -> goro::result<std::size_t> (one write, possibly
// short): the same types, and a bufio::writer. The Stream is held by value
// (goro's handles are cheap shared references); give a reference type
// (reader<my_source&>) to hold a reference.
//
// Outcomes (goro::result values, as everywhere in goro::net and goro::fs):
//   - reader::read returns 0 at end of stream, like the streams themselves;
//   - read_byte, read_until, read_line and peek return goro::io_errc::eof when
//     the stream ended before any byte of the answer;
//   - data before an end of stream or an error come first: read_until returns
//     the partial data read before the end (without the delimiter: test
//     whether it ends with it), and the end (io_errc::eof) or the error comes
//     from the next call. An error is reported once (as Go's bufio.Reader): the
//     call after it reads from the stream again, so a timeout can be retried;
//   - scanner: scan() returns false at the end; error() is empty at a clean
//     end of stream, errc::too_long for a line over the maximum, or the
//     stream's error;
//   - writer: the first error is sticky: every later write and flush returns
//     it (Go's bufio.Writer); the bytes not yet written stay buffered.
//
// Every operation returns an awaitable: the answer, when the buffer alone
// gives it (no coroutine frame, no suspension: most calls), or a goro::task
// that reads or writes the stream. Await it at once (the buffer part is done
// by the call itself); the reader, scanner or writer, and the memory given to
// read or write, must outlive it. One task at a time may use a reader,
// scanner or writer (they hold no lock, as in Go).
#pragma once

// The package, one concept a header:
#include "bufio_base.hpp"      // errors, buffer sizes, the Stream concepts
#include "bufio_file_at.hpp"   // file_at
#include "bufio_reader.hpp"    // reader
#include "bufio_scanner.hpp"   // scanner
#include "bufio_writer.hpp"    // writer
