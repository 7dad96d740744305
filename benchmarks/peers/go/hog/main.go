// hog: how long the connections of an echo server stall while one goroutine
// holds a P without yielding — the twin of goro's benchmarks/hog.cpp.
//
// The server runs with GOMAXPROCS=2 (fixed, whatever the environment says)
// and one goroutine per connection echoing what it reads (4 KiB buffer). A
// client process (this program re-executed with -client <addr> <run>) opens
// 32 connections and, for 4 s, sends 64 bytes on every connection at each
// 1 ms tick unless that connection's previous round trip is still waiting
// for its echo (one goroutine per connection, ticks at start + k ms; missed
// ticks are not caught up), and times each round trip. One second after the
// 32 connections are accepted the server starts a hog goroutine, in two runs
// (each with a server and a client of its own):
//
//	spin:  computes for 2 s, a loop that only reads the clock (Go pre-empts
//	       it after 10 ms);
//	sleep: calls syscall.Nanosleep(2 s), a raw blocking system call (sysmon
//	       hands its P to another thread after 20 µs).
//
// Prints, for <run> in spin, sleep (from the client's measurements):
//
//	hog_<run>_rtt_p50 <ms> ms, hog_<run>_rtt_p99 <ms> ms,
//	hog_<run>_rtt_max <ms> ms, hog_<run>_over_100ms <round trips> count
package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"sync"
	"syscall"
	"time"
)

const (
	conns     = 32
	msgLen    = 64
	clientRun = 4 * time.Second
	hogDelay  = 1 * time.Second
	hogLength = 2 * time.Second
)

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "hog: "+format+"\n", args...)
	os.Exit(1)
}

// ---- the client process ----

func client(addr, run string) {
	cs := make([]net.Conn, conns)
	for i := range cs {
		c, err := net.Dial("tcp", addr) // TCP_NODELAY is Go's default
		if err != nil {
			fail("client: dial: %v", err)
		}
		cs[i] = c
	}
	start := time.Now()
	end := start.Add(clientRun)
	var mu sync.Mutex
	var rtts []float64
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		go func(c net.Conn) {
			defer wg.Done()
			msg := make([]byte, msgLen)
			for i := range msg {
				msg[i] = 'h'
			}
			in := make([]byte, msgLen)
			next := start
			var mine []float64
			for {
				now := time.Now()
				if !now.Before(end) {
					break
				}
				if now.Before(next) {
					time.Sleep(next.Sub(now))
				}
				sent := time.Now()
				if _, err := c.Write(msg); err != nil {
					fail("client: write: %v", err)
				}
				if _, err := io.ReadFull(c, in); err != nil {
					fail("client: read: %v", err)
				}
				done := time.Now()
				mine = append(mine, float64(done.Sub(sent))/float64(time.Millisecond))
				// The next tick after the echo came back.
				next = start.Add((done.Sub(start)/time.Millisecond + 1) * time.Millisecond)
			}
			mu.Lock()
			rtts = append(rtts, mine...)
			mu.Unlock()
		}(c)
	}
	wg.Wait()
	for _, c := range cs {
		c.Close()
	}
	if len(rtts) == 0 {
		fail("client: no round trip completed")
	}
	sort.Float64s(rtts)
	pct := func(q float64) float64 {
		i := int(q * float64(len(rtts)))
		if i >= len(rtts) {
			i = len(rtts) - 1
		}
		return rtts[i]
	}
	over := 0
	for _, v := range rtts {
		if v > 100 {
			over++
		}
	}
	fmt.Printf("hog_%s_rtt_p50 %.2f ms\n", run, pct(0.50))
	fmt.Printf("hog_%s_rtt_p99 %.2f ms\n", run, pct(0.99))
	fmt.Printf("hog_%s_rtt_max %.2f ms\n", run, rtts[len(rtts)-1])
	fmt.Printf("hog_%s_over_100ms %d count\n", run, over)
	os.Exit(0)
}

// ---- the server ----

var sink int64

func spinHog() {
	until := time.Now().Add(hogLength)
	n := int64(0)
	for time.Now().Before(until) {
		n++
	}
	sink = n
}

func sleepHog() {
	ts := syscall.NsecToTimespec(int64(hogLength))
	for syscall.Nanosleep(&ts, &ts) == syscall.EINTR {
	}
}

func oneRun(run string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail("listen: %v", err)
	}
	cmd := exec.Command(os.Args[0], "-client", ln.Addr().String(), run)
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		fail("%v", err)
	}
	var wg sync.WaitGroup
	for i := 0; i < conns; i++ {
		c, err := ln.Accept()
		if err != nil {
			fail("accept: %v", err)
		}
		wg.Add(1)
		go func(c net.Conn) {
			defer wg.Done()
			defer c.Close()
			buf := make([]byte, 4096)
			for {
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
	ln.Close()
	time.Sleep(hogDelay)
	hogDone := make(chan struct{})
	go func() {
		if run == "spin" {
			spinHog()
		} else {
			sleepHog()
		}
		close(hogDone)
	}()
	<-hogDone
	wg.Wait() // until the client has closed every connection
	if err := cmd.Wait(); err != nil {
		fail("client process: %v", err)
	}
}

func main() {
	if len(os.Args) == 4 && os.Args[1] == "-client" {
		client(os.Args[2], os.Args[3])
	}
	runtime.GOMAXPROCS(2)
	oneRun("spin")
	oneRun("sleep")
}
