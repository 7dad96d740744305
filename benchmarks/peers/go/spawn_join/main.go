// spawn_join: spawn 1,000,000 goroutines, each writes its index i into its
// own slot of a slice, then join them all with one sync.WaitGroup.
//
// Prints: spawn_join <ns per task, median of 5 timed runs after 1 warm-up> ns/op
package main

import (
	"fmt"
	"os"
	"sort"
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

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func main() {
	for i := 0; i < warmups; i++ {
		once()
	}
	ts := make([]float64, 0, runs)
	for i := 0; i < runs; i++ {
		ts = append(ts, once())
	}
	fmt.Printf("spawn_join %.2f ns/op\n", median(ts))
}
