// spawn_join: spawn 1,000,000 goroutines, each writes its index i into its
// own slot of a slice, then join them all with one sync.WaitGroup.
//
// Prints: spawn_join <ns per task, median of 5 timed runs after 1 warm-up> ns/op
package main

import (
	"fmt"
	"goro-peers/bench"
	"os"
	"sync"
	"time"
)

const (
	tasks   = 1_000_000
	warmups = 1
	runs    = 5
)

func once() float64 {
	slots := make([]int64, tasks)
	var wg sync.WaitGroup
	start := time.Now()
	wg.Add(tasks)
	for i := 0; i < tasks; i++ {
		go func(i int) {
			slots[i] = int64(i)
			wg.Done()
		}(i)
	}
	wg.Wait()
	el := time.Since(start)
	for i, v := range slots {
		if v != int64(i) {
			fmt.Fprintf(os.Stderr, "spawn_join: slot %d holds %d\n", i, v)
			os.Exit(1)
		}
	}
	return float64(el.Nanoseconds()) / tasks
}

func main() {
	fmt.Printf("spawn_join %.2f ns/op\n", bench.MedianAfterWarmup(warmups, runs, once))
}
