// fib: fib(30) where every call with n >= 2 spawns the fib(n-1) branch as a
// goroutine (result into a local variable, joined with a sync.WaitGroup) and
// computes fib(n-2) inline, then joins. No sequential cutoff: ~1.6M tasks.
//
// Prints: fib_30 <median of 3 timed runs after 1 warm-up> ms
package main

import (
	"fmt"
	"goro-peers/bench"
	"os"
	"sync"
	"time"
)

const (
	n        = 30
	expected = int64(832040)
	warmups  = 1
	runs     = 3
)

func fib(n int) int64 {
	if n < 2 {
		return int64(n)
	}
	var a int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		a = fib(n - 1)
		wg.Done()
	}()
	b := fib(n - 2)
	wg.Wait()
	return a + b
}

func once() float64 {
	start := time.Now()
	r := fib(n)
	el := time.Since(start)
	if r != expected {
		fmt.Fprintf(os.Stderr, "fib: fib(%d) = %d, want %d\n", n, r, expected)
		os.Exit(1)
	}
	return float64(el.Nanoseconds()) / 1e6
}

func main() {
	fmt.Printf("fib_30 %.2f ms\n", bench.MedianAfterWarmup(warmups, runs, once))
}
