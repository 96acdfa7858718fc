package archive

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// IgnoreFile is the name of the file, at the root of a packed directory,
// listing paths to leave out of the archive. It is always packed itself so
// the cell can see which rules produced the upload.
//
// The syntax is a subset of .gitignore:
//
//   - blank lines and lines starting with # are ignored; surrounding
//     whitespace is trimmed;
//   - a pattern uses [path.Match] syntax (*, ?, [...]; ** is not special)
//     and is matched against both the slash-separated path relative to the
//     root and the entry's base name, so "*.log" excludes logs at any depth
//     while "docs/*.tmp" (which contains a slash) only matches from the root;
//   - a leading / anchors the pattern to the root: "/build" excludes only the
//     top-level build;
//   - a trailing / restricts the pattern to directories;
//   - an excluded directory is skipped entirely.
//
// Negation ("!pattern") is not supported: such a line is an error rather
// than being silently ignored, because ignoring it would leave out files the
// user explicitly asked to keep.
const IgnoreFile = ".pavedignore"

// ignoreRule is one parsed line of an IgnoreFile.
type ignoreRule struct {
	pattern  string
	dirOnly  bool // trailing "/": only matches directories
	anchored bool // leading "/": only matches the full relative path
}

// ignoreList is the ordered set of rules from an IgnoreFile.
type ignoreList []ignoreRule

// loadIgnore reads dir's IgnoreFile; a missing file means no rules.
func loadIgnore(dir string) (ignoreList, error) {
	f, err := os.Open(filepath.Join(dir, IgnoreFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseIgnore(f)
}

// parseIgnore parses IgnoreFile syntax. Malformed patterns are reported with
// their line number: failing loudly beats packing files the user meant to
// exclude (secrets, build output).
func parseIgnore(r io.Reader) (ignoreList, error) {
	var rules ignoreList
	sc := bufio.NewScanner(r)
	for lineNo := 1; sc.Scan(); lineNo++ {
		rule, ok, err := parseIgnoreLine(sc.Text())
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", IgnoreFile, lineNo, err)
		}
		if ok {
			rules = append(rules, rule)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", IgnoreFile, err)
	}
	return rules, nil
}

// parseIgnoreLine parses one line; ok is false for blank lines and comments.
func parseIgnoreLine(line string) (rule ignoreRule, ok bool, err error) {
	line = strings.TrimSpace(line)
	if line == "" || strings.HasPrefix(line, "#") {
		return rule, false, nil
	}
	if strings.HasPrefix(line, "!") {
		return rule, false, fmt.Errorf("negated pattern %q is not supported", line)
	}
	rule.dirOnly = strings.HasSuffix(line, "/")
	rule.anchored = strings.HasPrefix(line, "/")
	rule.pattern = strings.Trim(line, "/")
	if rule.pattern == "" {
		return rule, false, nil // "/" alone names nothing we could skip
	}
	// path.Match validates the whole pattern even when it doesn't match, so
	// this surfaces syntax errors now instead of silently never matching.
	if _, err := path.Match(rule.pattern, ""); err != nil {
		return rule, false, fmt.Errorf("bad pattern %q: %w", line, err)
	}
	return rule, true, nil
}

// match reports whether the entry at slash-separated path rel is excluded.
func (l ignoreList) match(rel string, isDir bool) bool {
	for _, r := range l {
		if r.dirOnly && !isDir {
			continue
		}
		if ok, _ := path.Match(r.pattern, rel); ok {
			return true
		}
		if r.anchored {
			continue
		}
		if ok, _ := path.Match(r.pattern, path.Base(rel)); ok {
			return true
		}
	}
	return false
}
