// Command refproxy is the reference peer of the router benchmark: a tuned
// httputil.ReverseProxy in front of one backend, i.e. what a Go engineer
// would write in twenty lines. scripts/bench.sh measures paved's router
// against it and against the backend itself.
//
//	refproxy --listen 127.0.0.1:9000 --backend 127.0.0.1:8080
package main

import (
	"flag"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"
)

// bufferPool recycles ReverseProxy's 32 KiB copy buffers. It pools array
// pointers, so neither Get nor Put allocates.
type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[32 << 10]byte); ok {
		return v[:]
	}
	return new([32 << 10]byte)[:]
}

func (b *bufferPool) Put(buf []byte) {
	if cap(buf) >= 32<<10 {
		b.p.Put((*[32 << 10]byte)(buf[:32<<10]))
	}
}

func main() {
	listen := flag.String("listen", "127.0.0.1:9000", "address to listen on")
	backend := flag.String("backend", "", "backend host:port or URL (required)")
	flag.Parse()
	if *backend == "" {
		log.Fatal("refproxy: --backend is required")
	}
	raw := *backend
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	target, err := url.Parse(raw)
	if err != nil {
		log.Fatalf("refproxy: --backend: %v", err)
	}

	transport := &http.Transport{
		Proxy:               nil, // never from the environment
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		DisableCompression:  true,
		MaxIdleConns:        0, // no global cap
		MaxIdleConnsPerHost: 1024,
		IdleConnTimeout:     90 * time.Second,
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.SetXForwarded()
		},
		Transport:  transport,
		BufferPool: &bufferPool{},
	}
	log.Printf("refproxy: listening on %s, backend %s", *listen, target)
	log.Fatal(http.ListenAndServe(*listen, proxy))
}
