// Package secrets keeps credentials out of what the cell hands on and
// writes down: the environment of builds and pipeline tasks (which inherit
// the cell's toolchain settings, but not its token or other credentials),
// and the logs of instances (an app that prints its secret_env values has
// them redacted before they reach the log buffer, the log files or a
// client).
package secrets

import (
	"bytes"
	"os"
	"strings"
)

// Redacted replaces a secret value in logs.
const Redacted = "[redacted]"

// credentialWords mark an environment variable as a credential when its
// name contains one of them (case-insensitively).
var credentialWords = []string{"TOKEN", "SECRET", "PASSWORD", "PASSWD", "PRIVATE_KEY", "API_KEY", "ACCESS_KEY", "CREDENTIAL", "AUTH"}

// IsCredential reports whether an environment variable name looks like a
// credential.
func IsCredential(name string) bool {
	up := strings.ToUpper(name)
	for _, w := range credentialWords {
		if strings.Contains(up, w) {
			return true
		}
	}
	return false
}

// CellEnv is the cell's own environment without its credentials: what a
// build or a pipeline task inherits (PATH, HOME, Go and proxy settings,
// locale), never PAVED_TOKEN or a cloud key the cell was started with.
func CellEnv() []string {
	return Scrub(os.Environ())
}

// Scrub drops the credentials from an environment list (KEY=VALUE).
func Scrub(environ []string) []string {
	out := make([]string, 0, len(environ))
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !IsCredential(name) {
			out = append(out, kv)
		}
	}
	return out
}

// minRedact is the shortest value redacted: shorter "secrets" ("1", "on")
// would turn every log line into noise and hide nothing.
const minRedact = 4

// Redactor replaces known secret values in text. The zero value redacts
// nothing. It is immutable once built, so it can be shared.
type Redactor struct {
	values [][]byte
}

// NewRedactor redacts the given values (those of at least 4 bytes).
func NewRedactor(values ...string) *Redactor {
	r := &Redactor{}
	for _, v := range values {
		if len(v) >= minRedact {
			r.values = append(r.values, []byte(v))
		}
	}
	return r
}

// Empty reports whether there is nothing to redact.
func (r *Redactor) Empty() bool { return r == nil || len(r.values) == 0 }

// Bytes returns b with every secret value replaced by Redacted; b itself
// when there is none (no copy).
func (r *Redactor) Bytes(b []byte) []byte {
	if r.Empty() {
		return b
	}
	for _, v := range r.values {
		if bytes.Contains(b, v) {
			b = bytes.ReplaceAll(b, v, []byte(Redacted))
		}
	}
	return b
}

// String is Bytes for a string.
func (r *Redactor) String(s string) string {
	if r.Empty() {
		return s
	}
	for _, v := range r.values {
		s = strings.ReplaceAll(s, string(v), Redacted)
	}
	return s
}
