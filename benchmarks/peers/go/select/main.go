// select: 4 producer goroutines, each sending 250,000 ints (1..250,000) on its
// own unbuffered channel; one consumer runs a blocking select over the 4
// channels 1,000,000 times in total. The consumer checks the per-channel
// counts and the sum.
//
// Prints: select <ns per select, median of 3 timed runs after 1 warm-up> ns/op
package main

import (
	"fmt"
	"goro-peers/bench"
	"os"
	"time"
)

const (
	producers = 4
	per       = 250_000
	total     = producers * per
	warmups   = 1
	runs      = 3
)

func once() float64 {
	var cs [producers]chan int64
	for i := range cs {
		cs[i] = make(chan int64)
	}
	start := time.Now()
	for p := 0; p < producers; p++ {
		go func(c chan int64) {
			for i := int64(1); i <= per; i++ {
				c <- i
			}
		}(cs[p])
	}
	var counts [producers]int64
	var sum int64
	for i := 0; i < total; i++ {
		select {
		case v := <-cs[0]:
			counts[0]++
			sum += v
		case v := <-cs[1]:
			counts[1]++
			sum += v
		case v := <-cs[2]:
			counts[2]++
			sum += v
		case v := <-cs[3]:
			counts[3]++
			sum += v
		}
	}
	el := time.Since(start)
	want := int64(producers) * int64(per) * int64(per+1) / 2
	for p, n := range counts {
		if n != per {
			fmt.Fprintf(os.Stderr, "select: channel %d delivered %d, want %d\n", p, n, per)
			os.Exit(1)
		}
	}
	if sum != want {
		fmt.Fprintf(os.Stderr, "select: sum %d, want %d\n", sum, want)
		os.Exit(1)
	}
	return float64(el.Nanoseconds()) / total
}

func main() {
	fmt.Printf("select %.2f ns/op\n", bench.MedianAfterWarmup(warmups, runs, once))
}
