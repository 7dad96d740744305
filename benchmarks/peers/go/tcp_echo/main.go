// tcp_echo: an echo server and its clients in one program, over loopback.
// The server listens on 127.0.0.1:0 (ephemeral port) and runs one goroutine
// per accepted connection that reads into a 4 KiB buffer and writes back
// whatever it read. 64 client connections are dialled first (Go sets
// TCP_NODELAY on by default); then the clock starts and each client, in its
// own goroutine, does 10,000 round trips: write a 64-byte message, read
// exactly 64 bytes back and check they match. The clock stops when all
// clients are done. One timed run, no warm-up.
//
// Prints: tcp_echo <round trips per second overall = 640,000 / elapsed> req/s
// TCP_ECHO_DEADLINE=1: the server sets a read deadline 5 minutes ahead
// before every read, and the figure is named tcp_echo_deadline.
package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

const (
	conns  = 64
	trips  = 10_000
	msgLen = 64
)

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "tcp_echo: "+format+"\n", args...)
	os.Exit(1)
}

var deadline = os.Getenv("TCP_ECHO_DEADLINE") == "1"

func serve(ln net.Listener, wg *sync.WaitGroup) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return // listener closed
		}
		wg.Add(1)
		go func(c net.Conn) {
			defer wg.Done()
			defer c.Close()
			buf := make([]byte, 4096)
			for {
				if deadline {
					c.SetReadDeadline(time.Now().Add(5 * time.Minute))
				}
				n, err := c.Read(buf)
				if n > 0 {
					if _, werr := c.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}(c)
	}
}

func main() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail("listen: %v", err)
	}
	var swg sync.WaitGroup
	go serve(ln, &swg)
	addr := ln.Addr().String()

	cs := make([]net.Conn, conns)
	for i := range cs {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			fail("dial: %v", err)
		}
		cs[i] = c
	}

	errs := make(chan error, conns)
	var cwg sync.WaitGroup
	begin := make(chan struct{})
	cwg.Add(conns)
	for i, c := range cs {
		go func(id int, c net.Conn) {
			defer cwg.Done()
			out := make([]byte, msgLen)
			in := make([]byte, msgLen)
			<-begin
			for r := 0; r < trips; r++ {
				for k := range out {
					out[k] = byte(id*31 + r + k)
				}
				if _, err := c.Write(out); err != nil {
					errs <- fmt.Errorf("conn %d write: %v", id, err)
					return
				}
				if _, err := io.ReadFull(c, in); err != nil {
					errs <- fmt.Errorf("conn %d read: %v", id, err)
					return
				}
				if !bytes.Equal(in, out) {
					errs <- fmt.Errorf("conn %d round %d: echo mismatch", id, r)
					return
				}
			}
		}(i, c)
	}
	start := time.Now()
	close(begin)
	cwg.Wait()
	el := time.Since(start)
	close(errs)
	for e := range errs {
		fail("%v", e)
	}
	for _, c := range cs {
		c.Close()
	}
	ln.Close()
	swg.Wait()
	name := "tcp_echo"
	if deadline {
		name = "tcp_echo_deadline"
	}
	fmt.Printf("%s %.2f req/s\n", name, float64(conns*trips)/el.Seconds())
}
