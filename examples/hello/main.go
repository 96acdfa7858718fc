// Command hello is the smallest paved app: it answers HTTP on $PORT and
// says which instance answered, so you can watch the router balance.
package main

import (
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	instance := os.Getenv("PAVED_INSTANCE")
	greeting := os.Getenv("GREETING")
	if greeting == "" {
		greeting = "hello from paved"
	}
	// Fault knobs for rollout demos and tests: FAIL_EVERY=5 answers 500 to
	// every 5th request (20%), UNHEALTHY=1 fails the health check.
	failEvery, _ := strconv.Atoi(os.Getenv("FAIL_EVERY"))
	unhealthy := os.Getenv("UNHEALTHY") == "1"
	var served atomic.Int64
	fail := func(w http.ResponseWriter) bool {
		if failEvery > 0 && served.Add(1)%int64(failEvery) == 0 {
			http.Error(w, "injected failure (FAIL_EVERY)", http.StatusInternalServerError)
			return true
		}
		return false
	}
	// A 1 KiB body, the size the router benchmark uses.
	kib := strings.Repeat("x", 1024)
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if unhealthy {
			http.Error(w, "unhealthy (UNHEALTHY=1)", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/kib", func(w http.ResponseWriter, r *http.Request) {
		if fail(w) {
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, kib)
	})
	// /slow?ms=N answers after N milliseconds (at most a minute): an
	// instance that is slow to answer, for timeout tests.
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		select {
		case <-time.After(time.Duration(min(max(ms, 0), 60000)) * time.Millisecond):
			fmt.Fprintf(w, "answered after %d ms\n", ms)
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if fail(w) {
			return
		}
		fmt.Fprintf(w, "%s (instance %s)\n", greeting, instance)
	})
	// PAVED_HOST is the address the runtime wants bound: the cell's
	// loopback for a process instance, every address of a Kubernetes pod.
	host := os.Getenv("PAVED_HOST")
	if host == "" {
		host = "127.0.0.1"
	}
	addr := net.JoinHostPort(host, port)
	log.Printf("hello: instance %s listening on %s", instance, addr)
	log.Fatal(http.ListenAndServe(addr, mux))
}
