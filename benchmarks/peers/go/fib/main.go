// fib: fib(30) where every call with n >= 2 spawns the fib(n-1) branch as a
// goroutine (result into a local variable, joined with a sync.WaitGroup) and
// computes fib(n-2) inline, then joins. No sequential cutoff: ~1.6M tasks.
//
// Prints: fib_30 <median of 3 timed runs after 1 warm-up> ms
package main

import (
	"fmt"
	"os"
	"sort"
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

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	k := len(s)
	if k%2 == 1 {
		return s[k/2]
	}
	return (s[k/2-1] + s[k/2]) / 2
}

func main() {
	for i := 0; i < warmups; i++ {
		once()
	}
	ts := make([]float64, 0, runs)
	for i := 0; i < runs; i++ {
		ts = append(ts, once())
	}
	fmt.Printf("fib_30 %.2f ms\n", median(ts))
}
