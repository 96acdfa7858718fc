package router

import (
	"net/http"
	"os"
	"runtime/pprof"
	"testing"
	"time"
)

func TestZZManualServe(t *testing.T) {
	backend := os.Getenv("ZZ_BACKEND")
	if backend == "" {
		t.Skip()
	}
	r := New(Options{})
	r.Update([]Route{{Host: "bench.test", App: "b/a", Backends: []Backend{{ID: "b1", Addr: backend}}}})
	srv := &http.Server{Addr: os.Getenv("ZZ_LISTEN"), Handler: r, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 90 * time.Second}
	go srv.ListenAndServe()
	time.Sleep(time.Second)
	f, _ := os.Create(os.Getenv("ZZ_PROF"))
	pprof.StartCPUProfile(f)
	d, _ := time.ParseDuration(os.Getenv("ZZ_DUR"))
	if d == 0 {
		d = 8 * time.Second
	}
	time.Sleep(d)
	pprof.StopCPUProfile()
	f.Close()
	srv.Close()
}
