// mutex: 8 goroutines do 1,000,000 lock/unlock pairs in total (125,000 each)
// on one sync.Mutex protecting a shared counter increment. The counter must
// end at 1,000,000.
//
// Prints: mutex <ns per lock/unlock pair (wall time / 1,000,000), median of 3
// timed runs after 1 warm-up> ns/op
package main

import (
	"fmt"
	"goro-peers/bench"
	"os"
	"sync"
	"time"
)

const (
	workers = 8
	total   = 1_000_000
	per     = total / workers
	warmups = 1
	runs    = 3
)

func once() float64 {
	var mu sync.Mutex
	var counter int64
	var wg sync.WaitGroup
	start := time.Now()
	wg.Add(workers)
	for w := 0; w < workers; w++ {
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				mu.Lock()
				counter++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	if counter != total {
		fmt.Fprintf(os.Stderr, "mutex: counter %d, want %d\n", counter, total)
		os.Exit(1)
	}
	return float64(el.Nanoseconds()) / total
}

func main() {
	fmt.Printf("mutex %.2f ns/op\n", bench.MedianAfterWarmup(warmups, runs, once))
}
