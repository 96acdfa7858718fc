package paved_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// ReadSource is how every front end reads a source: a directory packed
// reproducibly, an archive as it is, anything else refused.
func TestReadSource(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main"), 0o644)
	_, d1, err := paved.ReadSource(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Same tree, new mtime: same digest (no perpetual diff from touching files).
	later := time.Now().Add(time.Hour)
	os.Chtimes(filepath.Join(dir, "main.go"), later, later)
	if _, d2, _ := paved.ReadSource(dir); d2 != d1 {
		t.Fatalf("digest changed with the mtime: %s vs %s", d1, d2)
	}
	os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main // v2"), 0o644)
	if _, d3, _ := paved.ReadSource(dir); d3 == d1 {
		t.Fatal("digest did not change with the content")
	}
	if _, _, err := paved.ReadSource(filepath.Join(dir, "nope")); err == nil {
		t.Fatal("missing source accepted")
	}
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o644)
	if _, _, err := paved.ReadSource(filepath.Join(dir, "notes.txt")); err == nil {
		t.Fatal("a plain file accepted as source")
	}
}

func TestReadSourceArchive(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main"), 0o644)
	data, digest, err := paved.Archive(dir)
	if err != nil {
		t.Fatal(err)
	}
	tgz := filepath.Join(t.TempDir(), "app.tar.gz")
	os.WriteFile(tgz, data, 0o644)
	got, d, err := paved.ReadSource(tgz)
	if err != nil || d != digest || !bytes.Equal(got, data) {
		t.Fatalf("an archive read as %s (%v), want it sent as it is with digest %s", d, err, digest)
	}
}
