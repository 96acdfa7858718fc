package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json's TestEvent).
type event struct {
	Action      string
	Package     string
	Test        string
	Output      string
	ImportPath  string // build-output and build-fail
	FailedBuild string
}

type testKey struct{ pkg, test string }

// skipKey groups the skips of one test for one reason.
type skipKey struct{ pkg, test, reason string }

// skip is one skipped test, with how many times it skipped (a suite run
// several times by its TestMain skips the same test once per pass).
type skip struct {
	pkg, test, reason string
	times             int
	rule              *rule
}

type reporter struct {
	out     io.Writer
	verbose bool

	pending map[testKey][]string // output not printed yet, per test ("" = the package's own)
	lastLog map[testKey]string   // the last line each running test logged: a skip's reason
	skips   map[skipKey]*skip
	passed  int
	failed  int
	skipped int
	broken  []string // packages that failed as a whole or did not build
}

func newReporter(out io.Writer, verbose bool) *reporter {
	return &reporter{out: out, verbose: verbose, pending: map[testKey][]string{}, lastLog: map[testKey]string{}, skips: map[skipKey]*skip{}}
}

func (r *reporter) read(in io.Reader) error {
	br := bufio.NewReaderSize(in, 1<<20)
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			r.line(line)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (r *reporter) line(line string) {
	var ev event
	if !strings.HasPrefix(line, "{") || json.Unmarshal([]byte(line), &ev) != nil {
		r.write(line) // the go command's own output
		return
	}
	r.event(ev)
}

func (r *reporter) event(ev event) {
	key := testKey{ev.Package, ev.Test}
	switch ev.Action {
	case "build-output":
		r.write(ev.Output)
	case "build-fail":
		r.broken = append(r.broken, ev.ImportPath+" (build failed)")
	case "output":
		if m := logLine.FindStringSubmatch(ev.Output); m != nil && ev.Test != "" {
			r.lastLog[key] = strings.TrimSpace(m[1])
		}
		if r.verbose && ev.Test != "" && progressLine(ev.Output) {
			r.write(ev.Output)
			return
		}
		r.pending[key] = append(r.pending[key], ev.Output)
	case "pass", "fail", "skip":
		if ev.Test == "" {
			r.packageDone(ev)
			return
		}
		out, reason := r.pending[key], r.lastLog[key]
		delete(r.pending, key)
		delete(r.lastLog, key)
		switch ev.Action {
		case "pass":
			r.passed++
		case "fail":
			r.failed++
			r.print(out)
		case "skip":
			r.skipped++
			k := skipKey{ev.Package, ev.Test, reason}
			s := r.skips[k]
			if s == nil {
				s = &skip{pkg: k.pkg, test: k.test, reason: k.reason}
				r.skips[k] = s
			}
			s.times++
		}
	}
}

// packageDone prints a package's result. A failed package prints all it
// said outside its tests (a panic, a timeout, TestMain's messages) and the
// output of the tests it left unfinished, which is where a timeout shows.
func (r *reporter) packageDone(ev event) {
	key := testKey{ev.Package, ""}
	own := r.pending[key]
	delete(r.pending, key)
	if ev.Action != "fail" {
		for _, l := range own {
			if strings.HasPrefix(l, "ok ") || strings.HasPrefix(l, "?") {
				r.write(l)
			}
		}
		return
	}
	var unfinished []testKey
	for k := range r.pending {
		if k.pkg == ev.Package {
			unfinished = append(unfinished, k)
		}
	}
	sort.Slice(unfinished, func(i, j int) bool { return unfinished[i].test < unfinished[j].test })
	for _, k := range unfinished {
		fmt.Fprintf(r.out, "--- unfinished: %s\n", k.test)
		r.print(r.pending[k])
		delete(r.pending, k)
	}
	r.print(own)
	what := ev.Package
	if ev.FailedBuild != "" {
		what += " (build failed)"
	}
	r.broken = append(r.broken, what)
}

// write copies s to the output; as with the fmt.Fprintf calls beside it, a
// failed write to it has nowhere to be reported.
func (r *reporter) write(s string) { _, _ = io.WriteString(r.out, s) }

func (r *reporter) print(lines []string) {
	for _, l := range lines {
		r.write(l)
	}
}

// progressLine is what -v prints as it comes: tests starting and ending
// and what they log (t.Log lines are indented "file_test.go:N: ...").
func progressLine(s string) bool {
	return strings.HasPrefix(s, "=== RUN") || strings.HasPrefix(strings.TrimLeft(s, " "), "--- ") || logLine.MatchString(s)
}

var logLine = regexp.MustCompile(`^\s+[\w.-]+\.go:\d+: (.*)`)

// finish prints the skip report and the closing line and returns the exit
// code: 1 when anything failed or skipped without an allow-list entry.
func (r *reporter) finish(name string, rules []rule) int {
	var all []*skip
	for _, s := range r.skips {
		s.rule = allowed(rules, s.pkg, s.test, s.reason)
		all = append(all, s)
	}
	sort.Slice(all, func(i, j int) bool {
		if li, lj := ruleLine(all[i].rule), ruleLine(all[j].rule); li != lj {
			return li < lj
		}
		if all[i].pkg != all[j].pkg {
			return all[i].pkg < all[j].pkg
		}
		return all[i].test < all[j].test
	})
	unexplained := 0
	if len(all) > 0 {
		fmt.Fprintf(r.out, "\nskip report for %s: %d skipped tests\n", name, r.skipped)
		var lastRule *rule
		for _, s := range all {
			if s.rule != nil && s.rule != lastRule {
				fmt.Fprintf(r.out, "  allowed by the allow-list's line %d (%s):\n", s.rule.line, s.rule.why)
			}
			lastRule = s.rule
			times := ""
			if s.times > 1 {
				times = fmt.Sprintf(" (%d times)", s.times)
			}
			if s.rule == nil {
				unexplained++
				fmt.Fprintf(r.out, "  NOT ALLOWED  %s %s%s: %q\n", s.pkg, s.test, times, s.reason)
				continue
			}
			fmt.Fprintf(r.out, "    %s %s%s: %q\n", s.pkg, s.test, times, s.reason)
		}
		if unexplained > 0 {
			fmt.Fprintf(r.out, "%d skips are not on the allow-list: make the test assert, or add an entry with a comment saying why the skip hides no failure\n", unexplained)
		}
	}
	for _, p := range r.broken {
		fmt.Fprintf(r.out, "FAIL %s\n", p)
	}
	fmt.Fprintf(r.out, "%s: %d passed, %d failed, %d skipped\n", name, r.passed, r.failed, r.skipped)
	if r.failed > 0 || len(r.broken) > 0 || unexplained > 0 {
		return 1
	}
	return 0
}

// ruleLine orders the report: unexplained skips (no rule) first.
func ruleLine(r *rule) int {
	if r == nil {
		return 0
	}
	return r.line
}
