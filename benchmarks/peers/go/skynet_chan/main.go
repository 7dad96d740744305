// skynet_chan: the original skynet benchmark (github.com/atemerev/skynet):
// every node makes an unbuffered channel, starts its 10 children as
// goroutines that each send their result on it, receives 10 values and sends
// the sum to its parent. 1,000,000 leaves; the sum must be 499999500000.
//
// Prints: skynet_chan_1m <median of 5 timed runs after 1 warm-up> ms
package main

import (
	"fmt"
	"goro-peers/bench"
	"os"
	"time"
)

const (
	size     = 1_000_000
	div      = 10
	expected = 499_999_500_000
	warmups  = 1
	runs     = 5
)

func skynet(c chan int, num, size, div int) {
	if size == 1 {
		c <- num
		return
	}
	rc := make(chan int)
	for i := 0; i < div; i++ {
		go skynet(rc, num+i*size/div, size/div, div)
	}
	sum := 0
	for i := 0; i < div; i++ {
		sum += <-rc
	}
	c <- sum
}

func once() float64 {
	start := time.Now()
	c := make(chan int)
	go skynet(c, 0, size, div)
	sum := <-c
	el := time.Since(start)
	if sum != expected {
		fmt.Fprintf(os.Stderr, "skynet_chan: wrong sum %d, want %d\n", sum, expected)
		os.Exit(1)
	}
	return float64(el.Nanoseconds()) / 1e6
}

func main() {
	fmt.Printf("skynet_chan_1m %.2f ms\n", bench.MedianAfterWarmup(warmups, runs, once))
}
