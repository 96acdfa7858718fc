//go:build unix

package archive

import (
	"path/filepath"
	"syscall"
	"testing"
)

// Fifos (like devices and sockets) can't be recreated safely on the cell
// and are never app content, so Pack leaves them out.
func TestPackSkipsFifo(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, []node{{path: "keep.txt", body: "x"}})
	must(t, syscall.Mkfifo(filepath.Join(dir, "pipe"), 0o644))
	data, _, err := PackBytes(dir)
	must(t, err)
	hdrs := tarHeaders(t, data)
	if len(hdrs) != 1 || hdrs[0].Name != "keep.txt" {
		for _, h := range hdrs {
			t.Errorf("packed %q", h.Name)
		}
	}
}
