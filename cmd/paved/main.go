// Command paved runs a paved cell (paved server) and drives cells from the
// command line.
package main

import (
	"os"

	"github.com/pavedroad/terraform-provider-paved/internal/cli"
	"github.com/pavedroad/terraform-provider-paved/internal/version"
)

func main() {
	// PAVED_PPROF is served by `paved server` (internal/cell/pprof.go),
	// behind the cell's admin token.
	os.Exit(cli.Main(version.Version, os.Args[1:]))
}
