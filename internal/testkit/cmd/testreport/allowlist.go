package main

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// The allow-list names the skips a green run may contain. Each entry is one
// line of three fields, and the comment lines just above it say why such a
// skip hides no failure (an entry without one is refused; entries on the
// lines right after it share it, and a blank line ends it):
//
//	# The router suite runs once per server (std, fast, lane) from TestMain;
//	# a test of one server's own behaviour skips in the other passes.
//	internal/router  *  runs in the lane pass
//
// The first field is the package: its import path, a suffix of it on a '/'
// boundary ("internal/router"), or "*" for any. The second is the test's
// name, where '*' stands for any run of characters ("TestAcc*",
// "FuzzX/seed#*"). The rest of the line is the start of the skip message.
type rule struct {
	pkg    string
	test   *regexp.Regexp
	reason string
	why    string // the comment above the entry
	line   int
}

func parseAllowList(r io.Reader, name string) ([]rule, error) {
	var (
		rules   []rule
		comment []string
		shared  string // the comment of the entry just above, for the next one
		n       int
	)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "": // a comment block ends at a blank line
			comment, shared = nil, ""
			continue
		case strings.HasPrefix(line, "#"):
			comment, shared = append(comment, strings.TrimSpace(strings.TrimPrefix(line, "#"))), ""
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 3 {
			return nil, fmt.Errorf("%s:%d: an entry is a package, a test name and the start of the skip reason; got %q", name, n, line)
		}
		why := strings.Join(comment, " ")
		if why == "" {
			why = shared
		}
		if why == "" {
			return nil, fmt.Errorf("%s:%d: the entry for %s %s has no comment above it saying why the skip is not a hidden failure", name, n, fields[0], fields[1])
		}
		reason := strings.TrimSpace(line[strings.Index(line, fields[1])+len(fields[1]):])
		rules = append(rules, rule{pkg: fields[0], test: globRegexp(fields[1]), reason: reason, why: why, line: n})
		comment, shared = nil, why
	}
	return rules, sc.Err()
}

// globRegexp turns a test-name pattern, where '*' is any run of characters,
// into an anchored regular expression.
func globRegexp(glob string) *regexp.Regexp {
	parts := strings.Split(glob, "*")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile("^" + strings.Join(parts, ".*") + "$")
}

// matches reports whether the rule allows test of pkg to skip for reason.
func (r rule) matches(pkg, test, reason string) bool {
	return (r.pkg == "*" || pkg == r.pkg || strings.HasSuffix(pkg, "/"+r.pkg)) &&
		r.test.MatchString(test) && strings.HasPrefix(reason, r.reason)
}

// allowed returns the first rule that allows the skip, or nil.
func allowed(rules []rule, pkg, test, reason string) *rule {
	for i := range rules {
		if rules[i].matches(pkg, test, reason) {
			return &rules[i]
		}
	}
	return nil
}
