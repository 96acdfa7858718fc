// Command paved runs a paved cell (paved server) and drives cells from the
// command line.
package main

import (
	"fmt"
	"net/http"
	_ "net/http/pprof" // served only when PAVED_PPROF names an address
	"os"
	"runtime"

	"github.com/pavedroad/terraform-provider-paved/internal/cli"
	"github.com/pavedroad/terraform-provider-paved/internal/version"
)

func main() {
	// PAVED_PPROF=127.0.0.1:6060 serves Go's profiles (/debug/pprof/) on
	// that address: how `make bench` profiles the router under load. It is
	// an environment knob rather than a flag because it is for whoever
	// debugs a process, not part of any command's contract; it has no
	// authentication, so keep it on loopback.
	if addr := os.Getenv("PAVED_PPROF"); addr != "" {
		// Sample lock contention too (/debug/pprof/mutex): 1 in 100 events.
		runtime.SetMutexProfileFraction(100)
		go func() {
			if err := http.ListenAndServe(addr, nil); err != nil {
				fmt.Fprintf(os.Stderr, "paved: PAVED_PPROF %s: %v\n", addr, err)
			}
		}()
	}
	os.Exit(cli.Main(version.Version, os.Args[1:]))
}
