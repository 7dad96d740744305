// skynet (join-based): a tree of 1,000,000 leaf tasks, 10 children per node
// (6 levels). A leaf returns its number; a node starts its 10 children as
// goroutines that write into a local [10]int64 slot array, waits on a
// sync.WaitGroup, then sums the slots.
//
// Prints: skynet_1m <median of 5 timed runs, after 1 warm-up> ms
package main

import (
	"fmt"
	"goro-peers/bench"
	"os"
	"sync"
	"time"
)

const (
	leaves   = 1_000_000
	div      = 10
	expected = int64(499_999_500_000)
	warmups  = 1
	runs     = 5
)

func node(num, size int64) int64 {
	if size == 1 {
		return num
	}
	var slots [div]int64
	var wg sync.WaitGroup
	wg.Add(div)
	sub := size / div
	for i := int64(0); i < div; i++ {
		go func(i int64) {
			slots[i] = node(num+i*sub, sub)
			wg.Done()
		}(i)
	}
	wg.Wait()
	var sum int64
	for _, v := range slots {
		sum += v
	}
	return sum
}

func once() float64 {
	start := time.Now()
	sum := node(0, leaves)
	el := time.Since(start)
	if sum != expected {
		fmt.Fprintf(os.Stderr, "skynet: wrong sum %d, want %d\n", sum, expected)
		os.Exit(1)
	}
	return float64(el.Nanoseconds()) / 1e6
}

func main() {
	fmt.Printf("skynet_1m %.2f ms\n", bench.MedianAfterWarmup(warmups, runs, once))
}
