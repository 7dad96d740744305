// pingpong: two goroutines bounce an int over two unbuffered channels,
// 1,000,000 round trips (ping -> pong -> back). The compare script runs it
// at GOMAXPROCS=1 and 2 as well as at the default.
//
// Prints: pingpong <ns per round trip, median of 3 timed runs after 1 warm-up> ns/op
package main

import (
	"fmt"
	"goro-peers/bench"
	"os"
	"sync"
	"time"
)

const (
	trips   = 1_000_000
	warmups = 1
	runs    = 3
)

func once() float64 {
	ping := make(chan int)
	pong := make(chan int)
	var wg sync.WaitGroup
	var last int
	wg.Add(2)
	start := time.Now()
	go func() { // ponger: echoes v+1
		defer wg.Done()
		for i := 0; i < trips; i++ {
			v := <-ping
			pong <- v + 1
		}
	}()
	go func() { // pinger
		defer wg.Done()
		v := 0
		for i := 0; i < trips; i++ {
			ping <- v
			v = <-pong
		}
		last = v
	}()
	wg.Wait()
	el := time.Since(start)
	if last != trips {
		fmt.Fprintf(os.Stderr, "pingpong: final value %d, want %d\n", last, trips)
		os.Exit(1)
	}
	return float64(el.Nanoseconds()) / trips
}

func main() {
	fmt.Printf("pingpong %.2f ns/op\n", bench.MedianAfterWarmup(warmups, runs, once))
}
