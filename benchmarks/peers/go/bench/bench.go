// Package bench holds what the Go twins share: the warm-up-then-median loop
// and the resident set size, the same measurements as goro's
// benchmarks/bench_util.hpp.
package bench

import (
	"bufio"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
)

// Median of xs (xs is not modified).
func Median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// MedianAfterWarmup runs once warmups times untimed, then runs more times,
// and returns the median of what those runs returned.
func MedianAfterWarmup(warmups, runs int, once func() float64) float64 {
	for i := 0; i < warmups; i++ {
		once()
	}
	ts := make([]float64, 0, runs)
	for i := 0; i < runs; i++ {
		ts = append(ts, once())
	}
	return Median(ts)
}

// VmRSSkB reads this process's resident set size (VmRSS, in kB) from
// /proc/self/status: the whole process, not a delta.
func VmRSSkB() (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "VmRSS:") {
			fields := strings.Fields(line[len("VmRSS:"):])
			if len(fields) < 1 {
				break
			}
			return strconv.ParseInt(fields[0], 10, 64)
		}
	}
	return 0, fmt.Errorf("VmRSS not found in /proc/self/status")
}
