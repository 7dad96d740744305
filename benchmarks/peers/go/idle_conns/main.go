// idle_conns: hold 10,000 idle TCP connections, each with a goroutine blocked
// in Read, and report the whole process's VmRSS in MB and its OS thread count
// (entries of /proc/self/task) once all of them are blocked and a 20 ms
// settle pause has passed. Then wake every reader with one byte and wait.
//
// The client ends live in a child process (this program re-executed with
// -client <addr>, driven through its stdin) so that this process holds only
// the server ends, as goro's benchmarks/idle_conns.cpp does with fork.
//
// Prints: idle_10k_conns_rss <MB> MB
//
//	idle_10k_conns_threads <N> threads
package main

import (
	"bufio"
	"fmt"
	"goro-peers/bench"
	"io"
	"net"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const conns = 10_000

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "idle_conns: "+format+"\n", args...)
	os.Exit(1)
}

func threadCount() int {
	entries, err := os.ReadDir("/proc/self/task")
	if err != nil {
		fail("%v", err)
	}
	return len(entries)
}

// client connects conns sockets to addr, writes one byte on each when stdin
// gives it a byte, and exits when stdin reaches EOF.
func client(addr string) {
	var cs []net.Conn
	for i := 0; i < conns; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			fail("client: %v", err)
		}
		cs = append(cs, c)
	}
	in := bufio.NewReader(os.Stdin)
	if _, err := in.ReadByte(); err != nil {
		fail("client: control: %v", err)
	}
	for _, c := range cs {
		if _, err := c.Write([]byte("!")); err != nil {
			fail("client: write: %v", err)
		}
	}
	io.Copy(io.Discard, in)
	os.Exit(0)
}

func raiseFileLimit() {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil {
		lim.Cur = lim.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
}

func main() {
	raiseFileLimit()
	if len(os.Args) == 3 && os.Args[1] == "-client" {
		client(os.Args[2])
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail("%v", err)
	}
	cmd := exec.Command(os.Args[0], "-client", l.Addr().String())
	cmd.Stderr = os.Stderr
	control, err := cmd.StdinPipe()
	if err != nil {
		fail("%v", err)
	}
	if err := cmd.Start(); err != nil {
		fail("%v", err)
	}

	var blocked, woke int64
	var wg sync.WaitGroup
	wg.Add(conns)
	for i := 0; i < conns; i++ {
		c, err := l.Accept()
		if err != nil {
			fail("accept: %v", err)
		}
		go func(c net.Conn) {
			defer wg.Done()
			defer c.Close()
			atomic.AddInt64(&blocked, 1)
			var b [1]byte
			if n, err := c.Read(b[:]); n != 1 || err != nil {
				fail("a reader got no byte: %v", err)
			}
			atomic.AddInt64(&woke, 1)
		}(c)
	}
	for atomic.LoadInt64(&blocked) < conns {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // let the last reads park in the netpoller
	kb, err := bench.VmRSSkB()
	if err != nil {
		fail("%v", err)
	}
	threads := threadCount()
	if _, err := control.Write([]byte("w")); err != nil {
		fail("control: %v", err)
	}
	wg.Wait()
	control.Close()
	if err := cmd.Wait(); err != nil {
		fail("client process: %v", err)
	}
	fmt.Printf("idle_10k_conns_rss %.2f MB\n", float64(kb)/1024)
	fmt.Printf("idle_10k_conns_threads %d threads\n", threads)
}
