// Command testreport reads `go test -json` on standard input, prints what a
// person needs from the run (failing tests with their output, package
// results, and with -v every test as it starts and ends), and ends with a
// report of every skipped test and its reason. It exits non-zero when a
// test or a package failed, or when a test skipped without a matching
// entry in the allow-list: a regression guard that skips is silent in a
// green run, so every skip has to be explained there.
//
//	go test -json ./... 2>&1 | testreport -name unit -allow .ci/allowed-skips
//
// Lines that are not JSON (the go command's own messages, build errors on
// standard error) are passed through as they are.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
)

func main() {
	name := flag.String("name", "tests", "one word naming this run in its closing line (\"unit: N passed, N failed, N skipped\")")
	allow := flag.String("allow", "", "the allow-list of skips (see allowlist.go for its format); without it every skip fails the run")
	verbose := flag.Bool("v", false, "print every test as it starts and ends, not only failures and skips")
	flag.Parse()

	var rules []rule
	if *allow != "" {
		f, err := os.Open(*allow)
		if err != nil {
			fmt.Fprintln(os.Stderr, "testreport:", err)
			os.Exit(2)
		}
		rules, err = parseAllowList(f, *allow)
		f.Close()
		if err != nil {
			fmt.Fprintln(os.Stderr, "testreport:", err)
			os.Exit(2)
		}
	}
	os.Exit(run(os.Stdin, os.Stdout, *name, rules, *verbose))
}

// run reads the events, prints as it goes and returns the exit code.
func run(in io.Reader, out io.Writer, name string, rules []rule, verbose bool) int {
	r := newReporter(out, verbose)
	if err := r.read(in); err != nil {
		fmt.Fprintln(out, "testreport: reading go test output:", err)
		return 2
	}
	return r.finish(name, rules)
}
