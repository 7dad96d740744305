// idle_tasks: start 1,000,000 goroutines that all block on a receive from
// one shared channel; once all of them have started (atomic counter bumped
// just before the receive) and a short settle pause has passed, read VmRSS
// from /proc/self/status and report it in MB (VmRSS kB / 1024: the whole
// process, not a delta). Then close the channel and wait for all of them.
//
// The goro program also measures the same tasks started in a goro::group
// (idle_1m_group_rss). Go's standard library has no errgroup; its twin of a
// group is go + sync.WaitGroup, which is what this program measures, so it
// prints that one figure under both names.
//
// Prints: idle_1m_rss <MB> MB, idle_1m_group_rss <MB> MB
package main

import (
	"fmt"
	"goro-peers/bench"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

const tasks = 1_000_000

func main() {
	gate := make(chan struct{})
	var started int64
	var woke int64
	var wg sync.WaitGroup
	wg.Add(tasks)
	for i := 0; i < tasks; i++ {
		go func() {
			atomic.AddInt64(&started, 1)
			<-gate
			atomic.AddInt64(&woke, 1)
			wg.Done()
		}()
	}
	for atomic.LoadInt64(&started) < tasks {
		time.Sleep(time.Millisecond)
	}
	// Let the last ones reach the receive and park.
	time.Sleep(20 * time.Millisecond)
	if n := runtime.NumGoroutine(); n < tasks {
		fmt.Fprintf(os.Stderr, "idle_tasks: only %d goroutines alive\n", n)
		os.Exit(1)
	}
	kb, err := bench.VmRSSkB()
	if err != nil {
		fmt.Fprintf(os.Stderr, "idle_tasks: %v\n", err)
		os.Exit(1)
	}
	close(gate)
	wg.Wait()
	if woke != tasks {
		fmt.Fprintf(os.Stderr, "idle_tasks: %d of %d woke\n", woke, tasks)
		os.Exit(1)
	}
	fmt.Printf("idle_1m_rss %.2f MB\n", float64(kb)/1024)
	fmt.Printf("idle_1m_group_rss %.2f MB\n", float64(kb)/1024)
}
