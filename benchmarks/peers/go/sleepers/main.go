// sleepers: 100,000 goroutines each sleep until their own deadline,
// 20 + i % 30 ms after they start; each records how late it woke
// (time.Since(deadline)). Reports the median and the 99th percentile of that
// lateness over all goroutines (sync.WaitGroup joins them).
//
// Prints: sleepers_100k_late_p50 <ms> ms, sleepers_100k_late_p99 <ms> ms
// (each the median of 3 timed runs after 1 warm-up)
package main

import (
	"fmt"
	"goro-peers/bench"
	"os"
	"sort"
	"sync"
	"time"
)

const (
	tasks   = 100_000
	warmups = 1
	runs    = 3
)

func once() (p50, p99 float64) {
	late := make([]int64, tasks)
	var wg sync.WaitGroup
	wg.Add(tasks)
	for i := 0; i < tasks; i++ {
		go func(i int) {
			deadline := time.Now().Add(time.Duration(20+i%30) * time.Millisecond)
			time.Sleep(time.Until(deadline))
			late[i] = int64(time.Since(deadline))
			wg.Done()
		}(i)
	}
	wg.Wait()
	sort.Slice(late, func(a, b int) bool { return late[a] < late[b] })
	if late[0] < 0 {
		fmt.Fprintln(os.Stderr, "sleepers: a sleeper woke before its deadline")
		os.Exit(1)
	}
	return float64(late[tasks/2]) / 1e6, float64(late[tasks*99/100]) / 1e6
}

func main() {
	for i := 0; i < warmups; i++ {
		once()
	}
	var p50s, p99s []float64
	for i := 0; i < runs; i++ {
		a, b := once()
		p50s = append(p50s, a)
		p99s = append(p99s, b)
	}
	fmt.Printf("sleepers_100k_late_p50 %.2f ms\n", bench.Median(p50s))
	fmt.Printf("sleepers_100k_late_p99 %.2f ms\n", bench.Median(p99s))
}
