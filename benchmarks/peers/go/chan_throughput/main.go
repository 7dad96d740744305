// chan_throughput: 4 producers and 4 consumers share one buffered channel of
// capacity 1024; 10,000,000 ints in total. Producer p sends the ints
// p*2,500,000 .. (p+1)*2,500,000-1; when all producers are done the channel is
// closed; consumers range over it and sum what they receive. The sum of all
// received ints must be 0+1+...+9,999,999.
//
// Prints: chan_throughput <millions of messages per second, median of 3 timed
// runs after 1 warm-up> Mmsg/s
package main

import (
	"fmt"
	"goro-peers/bench"
	"os"
	"sync"
	"time"
)

const (
	producers = 4
	consumers = 4
	capacity  = 1024
	total     = 10_000_000
	per       = total / producers
	expected  = int64(total) * int64(total-1) / 2
	warmups   = 1
	runs      = 3
)

func once() float64 {
	c := make(chan int64, capacity)
	var pwg, cwg sync.WaitGroup
	sums := make([]int64, consumers)
	counts := make([]int64, consumers)
	start := time.Now()
	pwg.Add(producers)
	for p := 0; p < producers; p++ {
		go func(p int) {
			defer pwg.Done()
			base := int64(p) * per
			for i := int64(0); i < per; i++ {
				c <- base + i
			}
		}(p)
	}
	cwg.Add(consumers)
	for k := 0; k < consumers; k++ {
		go func(k int) {
			defer cwg.Done()
			var s, n int64
			for v := range c {
				s += v
				n++
			}
			sums[k], counts[k] = s, n
		}(k)
	}
	pwg.Wait()
	close(c)
	cwg.Wait()
	el := time.Since(start)
	var sum, n int64
	for k := range sums {
		sum += sums[k]
		n += counts[k]
	}
	if sum != expected || n != total {
		fmt.Fprintf(os.Stderr, "chan_throughput: got %d msgs sum %d, want %d sum %d\n", n, sum, total, expected)
		os.Exit(1)
	}
	return float64(total) / el.Seconds() / 1e6
}

func main() {
	fmt.Printf("chan_throughput %.2f Mmsg/s\n", bench.MedianAfterWarmup(warmups, runs, once))
}
