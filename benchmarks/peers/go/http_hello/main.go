// http_hello: a net/http server answering "Hello, World!" (text/plain) on
// every path. Listens on $HTTP_ADDR (default 127.0.0.1:8080), prints
// "listening <addr>" on stdout once the socket is listening, and runs until
// killed. The compare script loads it with wrk.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
)

var body = []byte("Hello, World!")

func main() {
	addr := os.Getenv("HTTP_ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "http_hello: listen %s: %v\n", addr, err)
		os.Exit(1)
	}
	fmt.Printf("listening %s\n", ln.Addr().String())
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(body)
	})
	if err := http.Serve(ln, h); err != nil {
		fmt.Fprintf(os.Stderr, "http_hello: %v\n", err)
		os.Exit(1)
	}
}
