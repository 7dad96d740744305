// timers: 100,000 goroutines each sleep a pseudo-random 1..10 ms; measure the
// wall time until all are done (sync.WaitGroup).
//
// The durations come from a fixed 64-bit LCG so that the goro twin sleeps
// exactly the same list:
//
//	x = 42
//	repeat: x = x*6364136223846793005 + 1442695040888963407 (mod 2^64)
//	        d_i = 1 + (x >> 33) % 10   milliseconds
//
// The list is generated before the clock starts, the same list every run.
//
// Prints: timers_100k <median of 3 timed runs after 1 warm-up> ms
package main

import (
	"fmt"
	"goro-peers/bench"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

const (
	tasks   = 100_000
	seed    = uint64(42)
	warmups = 1
	runs    = 3
)

func durations() []time.Duration {
	ds := make([]time.Duration, tasks)
	x := seed
	for i := range ds {
		x = x*6364136223846793005 + 1442695040888963407
		ds[i] = time.Duration(1+(x>>33)%10) * time.Millisecond
	}
	return ds
}

func once(ds []time.Duration) float64 {
	var wg sync.WaitGroup
	var done int64
	start := time.Now()
	wg.Add(tasks)
	for i := 0; i < tasks; i++ {
		go func(d time.Duration) {
			time.Sleep(d)
			atomic.AddInt64(&done, 1)
			wg.Done()
		}(ds[i])
	}
	wg.Wait()
	el := time.Since(start)
	if done != tasks {
		fmt.Fprintf(os.Stderr, "timers: %d of %d finished\n", done, tasks)
		os.Exit(1)
	}
	if el < 10*time.Millisecond {
		fmt.Fprintf(os.Stderr, "timers: finished in %v, faster than the longest sleep\n", el)
		os.Exit(1)
	}
	return float64(el.Nanoseconds()) / 1e6
}

func main() {
	ds := durations()
	fmt.Printf("timers_100k %.2f ms\n", bench.MedianAfterWarmup(warmups, runs, func() float64 { return once(ds) }))
}
