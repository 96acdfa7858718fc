// Package benchkit holds what the benchmark programs share: the machine
// line, Markdown report pieces, command-line quoting, the loopback guard
// and /proc memory readings.
package benchkit

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// Machine describes where the benchmark ran.
func Machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%d CPUs, %s, %s/%s", runtime.NumCPU(), cpu, runtime.GOOS, runtime.GOARCH)
}

// ShellQuote renders one word for a copy-pasteable command line.
func ShellQuote(w string) string {
	if w != "" && !strings.ContainsAny(w, " \t\n'\"\\$`!*?[]{}()<>|&;#~") {
		return w
	}
	return "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
}

// CommandLine is the program's own command line, quoted, without --repro
// (the script's command line, which the report prints separately).
func CommandLine(program string) string {
	words := []string{program}
	args := os.Args[1:]
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && name == "repro" {
			if !hasValue {
				i++
			}
			continue
		}
		words = append(words, ShellQuote(a))
	}
	return strings.Join(words, " ")
}

// Row is one line of a table: metric, value, target, verdict.
type Row [4]string

// Table renders rows as a Markdown table.
func Table(rows []Row) string {
	var sb strings.Builder
	sb.WriteString("| metric | value | target | verdict |\n|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&sb, "| %s | %s | %s | %s |\n", r[0], r[1], r[2], r[3])
	}
	return sb.String()
}

// PassFail renders a verdict.
func PassFail(ok bool) string {
	if ok {
		return "PASS"
	}
	return "**FAIL**"
}

// OrDash renders an empty cell as a dash.
func OrDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// OkOr is "ok", or bad when not ok.
func OkOr(ok bool, bad string) string {
	if ok {
		return "ok"
	}
	return bad
}

// MustLoopback refuses any address that is not a loopback IP: the load
// generator never leaves the machine.
func MustLoopback(hostport string) error {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%q is not a loopback address; this benchmark only runs against a local cell", hostport)
	}
	return nil
}

// MemOf reads VmRSS and VmHWM of pid, in bytes.
func MemOf(pid int) (rss, hwm int64, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, found := strings.Cut(line, ":")
		if !found || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		if k == "VmRSS" {
			rss, ok = n*1024, true
		} else {
			hwm = n * 1024
		}
	}
	return rss, hwm, ok
}
