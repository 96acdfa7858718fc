package archive

import (
	"fmt"
	"path"
	"strings"
)

// Name limits, mirroring Linux's PATH_MAX and NAME_MAX. Rejecting longer
// names up front turns an OS error into a clear ErrUnsafe and bounds the
// per-entry work of checking parent directories.
const (
	maxNameLen      = 4096
	maxComponentLen = 255
)

// unsafeEntry builds the error for an entry refused for safety reasons.
func unsafeEntry(name, reason string) error {
	return fmt.Errorf("%w: %q: %s", ErrUnsafe, name, reason)
}

// cleanName validates an entry name (or hard link target) from an archive
// and returns it cleaned, possibly as "." for the root itself. Names must be
// relative, slash-separated and free of ".." components; a "./" prefix or
// doubled slashes, as written by common tar tools, are fine.
func cleanName(name string) (string, error) {
	if reason := nameProblem(name); reason != "" {
		return "", unsafeEntry(name, reason)
	}
	return path.Clean(name), nil
}

// cleanFileName is cleanName for entries that must not be the root.
func cleanFileName(name string) (string, error) {
	clean, err := cleanName(name)
	if err == nil && clean == "." {
		err = unsafeEntry(name, "names the destination directory itself")
	}
	return clean, err
}

// nameProblem explains why name is not acceptable, or returns "".
func nameProblem(name string) string {
	if reason := stringProblem(name); reason != "" {
		return reason
	}
	if isAbs(name) {
		return "absolute path"
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return `path contains ".."`
		}
		if len(part) > maxComponentLen {
			return "path component too long"
		}
	}
	return ""
}

// stringProblem holds the checks shared by names and symlink targets.
// Backslashes are refused because Windows tools use them as separators: an
// entry "a\..\..\x" is harmless on Linux but not wherever the tree goes next.
func stringProblem(s string) string {
	switch {
	case s == "":
		return "empty name"
	case len(s) > maxNameLen:
		return "name too long"
	case strings.ContainsRune(s, 0):
		return "name contains a NUL byte"
	case strings.Contains(s, `\`):
		return "name contains a backslash"
	}
	return ""
}

// isAbs reports whether p is absolute on Unix or carries a Windows drive
// letter ("C:..."), which zip files made on Windows can contain.
func isAbs(p string) bool {
	if strings.HasPrefix(p, "/") {
		return true
	}
	return len(p) >= 2 && p[1] == ':' && ('a' <= p[0]|0x20 && p[0]|0x20 <= 'z')
}

// linkTargetProblem explains why a symlink at the (clean) entry name must
// not point at target, or returns "".
//
// The target is resolved lexically against the link's directory, which is a
// real directory because no entry may be placed under a symlink. Lexical
// resolution is only sound if ".." never follows a name: "sub/l/.." goes to
// the parent of wherever symlink sub/l points, which lexical cleaning would
// wrongly treat as "sub". So ".." may only lead the target, where it walks
// up real directories. With that rule every link resolves inside the
// destination, even through chains of other links.
func linkTargetProblem(name, target string) string {
	if reason := stringProblem(target); reason != "" {
		return "symlink target: " + reason
	}
	if isAbs(target) {
		return fmt.Sprintf("absolute symlink target %q", target)
	}
	depth := 0 // directories between the destination and the link
	if dir := path.Dir(name); dir != "." {
		depth = strings.Count(dir, "/") + 1
	}
	named := false
	for _, part := range strings.Split(target, "/") {
		switch part {
		case "", ".":
		case "..":
			if named {
				return fmt.Sprintf(`symlink target %q has ".." after a name`, target)
			}
			if depth--; depth < 0 {
				return fmt.Sprintf("symlink target %q escapes the destination", target)
			}
		default:
			named = true
		}
	}
	return ""
}
