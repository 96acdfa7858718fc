package archive

// Fuzz targets for extraction, the cell's handling of untrusted uploads.
// Run them with scripts/fuzz.sh or `make fuzz`; `go test` runs their seed
// corpus (f.Add below and testdata/fuzz/) as ordinary tests.

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fuzzLimits keeps bombs cheap to detect.
var fuzzLimits = Limits{MaxBytes: 1 << 20, MaxFiles: 64}

// FuzzExtract extracts arbitrary bytes (sniffed as tar.gz, tar or zip)
// with both entry points. Invariants: no panic; the error is nil or blames
// the archive (IsInvalid: the input is in memory and dst is writable, so
// nothing else can fail); whether it succeeds or not, nothing is created
// outside dst and no symlink in dst resolves outside it; dst holds only
// directories (0755), regular files (0644 or 0755) and symlinks, at most
// MaxFiles of them and at most MaxBytes of content; and Extract and
// ExtractFile agree, on the same tree when both succeed.
func FuzzExtract(f *testing.F) {
	src := f.TempDir()
	writeTree(f, src, baseTree)
	tgz, _, err := PackBytes(src)
	must(f, err)
	f.Add(tgz)
	for _, seed := range fuzzSeedArchives(f) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		box, dst, _ := sandbox(t)
		err := Extract(bytes.NewReader(data), dst, fuzzLimits)
		checkExtraction(t, box, dst, err)

		fileBox, fileDst, _ := sandbox(t)
		upload := filepath.Join(t.TempDir(), "upload")
		must(t, os.WriteFile(upload, data, 0o644))
		fileErr := ExtractFile(upload, fileDst, fuzzLimits)
		checkExtraction(t, fileBox, fileDst, fileErr)

		if (err == nil) != (fileErr == nil) {
			t.Fatalf("Extract: %v; ExtractFile: %v", err, fileErr)
		}
		if err == nil {
			if a, b := snapshot(t, dst), snapshot(t, fileDst); !maps.Equal(a, b) {
				t.Fatalf("Extract and ExtractFile made different trees:\n%v\n%v", a, b)
			}
		}
	})
}

// FuzzExtractEntries builds the same entries as a tar.gz and as a zip from
// a small script (one entry a line: "d NAME", "f NAME [CONTENT]", "x NAME
// [CONTENT]" for an executable, "l NAME TARGET", "h NAME TARGET" for a tar
// hard link) and extracts both. Structure-aware, it reaches the name and
// link checks with names and targets the fuzzer chose, rather than with
// the corrupt headers mutated bytes mostly make. Invariants: those of
// FuzzExtract for each archive, and the tar.gz and the zip (when there is
// no hard link, which zip cannot hold) are both refused or both give the
// same tree.
func FuzzExtractEntries(f *testing.F) {
	for _, s := range []string{
		"d app\nf app/main.go package main\nx app/run.sh #!/bin/sh\nl app/link main.go\nl top app/run.sh",
		"d a/b\nl a/b/up ../../a\nl a/c b/up",
		"f ../x escape",
		"f /etc/passwd root",
		"f C:/windows x",
		"f a\\..\\..\\x x",
		"l l ../outside\nf l/x through the link",
		"l l /etc",
		"d sub\nl sub/l ..\nl s2 sub/l/..",
		"l d .\nf d/x x",
		"f a 1\nf a 2",
		"f a x\nf a/b y",
		"f a x\nh b a\nh c ../a",
		"h b nowhere",
		"d .\nd ./\nf ./a//b x",
		"l a b\nl b a",
		"f " + strings.Repeat("n", 256) + " long",
		"f " + strings.Repeat("a/", 70) + "deep",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, script string) {
		entries := parseEntryScript(script)
		tgz, zipped, ok := buildEntries(entries)
		if !ok {
			return // the writers refuse these entries
		}
		box, dst, _ := sandbox(t)
		err := Extract(bytes.NewReader(tgz), dst, fuzzLimits)
		checkExtraction(t, box, dst, err)
		if zipped == nil {
			return
		}
		zipBox, zipDst, _ := sandbox(t)
		zipErr := Extract(bytes.NewReader(zipped), zipDst, fuzzLimits)
		checkExtraction(t, zipBox, zipDst, zipErr)
		if (err == nil) != (zipErr == nil) {
			t.Fatalf("entries %q: tar.gz: %v; zip: %v", script, err, zipErr)
		}
		if err == nil {
			if a, b := snapshot(t, dst), snapshot(t, zipDst); !maps.Equal(a, b) {
				t.Fatalf("entries %q: tar.gz and zip made different trees:\n%v\n%v", script, a, b)
			}
		}
	})
}

// checkExtraction checks what an extraction left, whether it failed or not.
func checkExtraction(t *testing.T, box, dst string, err error) {
	t.Helper()
	if err != nil && !IsInvalid(err) {
		t.Fatalf("error %v does not blame the archive: the cell would answer 500 to a bad upload", err)
	}
	assertConfined(t, box, dst)
	var entries int
	var content int64
	var files []os.FileInfo
	walkErr := filepath.WalkDir(dst, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dst {
			return err
		}
		entries++
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch mode := info.Mode(); {
		case mode.IsDir():
			if mode.Perm() != modeDir {
				t.Errorf("%s: directory mode %v", p, mode)
			}
		case mode.IsRegular():
			if mode.Perm() != modeFile && mode.Perm() != modeExec {
				t.Errorf("%s: file mode %v", p, mode)
			}
			for _, seen := range files {
				if os.SameFile(seen, info) {
					return nil // a hard link: its content was counted once
				}
			}
			files = append(files, info)
			content += info.Size()
		case mode&fs.ModeSymlink != 0:
		default:
			t.Errorf("%s: special file %v", p, mode)
		}
		return nil
	})
	must(t, walkErr)
	if entries > fuzzLimits.MaxFiles {
		t.Errorf("%d entries, more than MaxFiles %d", entries, fuzzLimits.MaxFiles)
	}
	// A refused file may hold the one byte past the limit that proved it.
	if limit := fuzzLimits.MaxBytes; content > limit+1 || err == nil && content > limit {
		t.Errorf("%d bytes of content, more than MaxBytes %d", content, limit)
	}
}

type scriptEntry struct {
	kind       byte // d, f, x, l, h
	name, data string
}

func parseEntryScript(script string) []scriptEntry {
	var out []scriptEntry
	for _, line := range strings.Split(script, "\n") {
		if len(line) < 2 || line[1] != ' ' || !strings.ContainsRune("dfxlh", rune(line[0])) {
			continue
		}
		name, data, _ := strings.Cut(line[2:], " ")
		out = append(out, scriptEntry{kind: line[0], name: name, data: data})
	}
	return out
}

// buildEntries writes entries as a tar.gz and, unless there is a hard link,
// as a zip, without any sanitising; ok is false if a writer refuses them.
func buildEntries(entries []scriptEntry) (tgz, zipped []byte, ok bool) {
	var tbuf, zbuf bytes.Buffer
	gz := gzip.NewWriter(&tbuf)
	tw := tar.NewWriter(gz)
	zw := zip.NewWriter(&zbuf)
	withZip := true
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Mode: 0o644, ModTime: packTime, Format: tar.FormatPAX}
		fh := &zip.FileHeader{Name: e.name, Method: zip.Store}
		var body string
		switch e.kind {
		case 'd':
			hdr.Typeflag, hdr.Mode = tar.TypeDir, 0o755
			fh.SetMode(fs.ModeDir | 0o755)
			if !strings.HasSuffix(fh.Name, "/") {
				fh.Name += "/"
			}
		case 'f', 'x':
			hdr.Typeflag, hdr.Size, body = tar.TypeReg, int64(len(e.data)), e.data
			fh.SetMode(0o644)
			if e.kind == 'x' {
				hdr.Mode = 0o755
				fh.SetMode(0o755)
			}
		case 'l':
			hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, e.data
			fh.SetMode(fs.ModeSymlink | 0o777)
			body = e.data
		case 'h':
			hdr.Typeflag, hdr.Linkname = tar.TypeLink, e.data
			withZip = false
		}
		if e.kind != 'd' && strings.HasSuffix(e.name, "/") {
			// Zip reads a trailing slash as a directory whatever the mode
			// says, tar does not: the formats mean different trees.
			withZip = false
		}
		if tw.WriteHeader(hdr) != nil {
			return nil, nil, false
		}
		if _, err := io.WriteString(tw, body); err != nil && e.kind != 'l' {
			return nil, nil, false
		}
		if withZip {
			w, err := zw.CreateHeader(fh)
			if err != nil {
				return nil, nil, false
			}
			if e.kind != 'd' {
				io.WriteString(w, body)
			}
		}
	}
	if tw.Close() != nil || gz.Close() != nil || zw.Close() != nil {
		return nil, nil, false
	}
	if !withZip {
		return tbuf.Bytes(), nil, true
	}
	return tbuf.Bytes(), zbuf.Bytes(), true
}

// fuzzSeedArchives are small archives FuzzExtract starts from: valid ones
// of each format with a directory, a file and an inner symlink, and
// malicious ones (escaping names and links, a bomb).
func fuzzSeedArchives(f *testing.F) [][]byte {
	valid := []tarEntry{
		{name: "d/", typ: tar.TypeDir, mode: 0o755},
		{name: "d/f", body: "hi", mode: 0o755},
		{name: "l", typ: tar.TypeSymlink, link: "d/f"},
	}
	seeds := [][]byte{
		makeTar(f, true, valid...),
		makeTar(f, false, valid...),
		makeZip(f,
			zipEntry{name: "d/", mode: fs.ModeDir | 0o755},
			zipEntry{name: "d/f", body: "hi", mode: 0o755},
			zipEntry{name: "l", body: "d/f", mode: fs.ModeSymlink | 0o777},
		),
		makeTar(f, false,
			tarEntry{name: "a", body: "x"},
			tarEntry{name: "b", typ: tar.TypeLink, link: "a"},
			tarEntry{name: "s", typ: tar.TypeSymlink, link: "../x"},
		),
		makeTar(f, true, tarEntry{name: "../x", body: "escape"}),
		makeTar(f, true, tarEntry{name: "/abs", body: "escape"}),
		makeTar(f, true, tarEntry{name: "l", typ: tar.TypeSymlink, link: "/etc"}, tarEntry{name: "l/passwd", body: "x"}),
		makeTar(f, true, tarEntry{name: "d/l", typ: tar.TypeSymlink, link: "../../outside"}),
		makeTar(f, true, tarEntry{name: "fifo", typ: tar.TypeFifo}),
		makeZip(f, zipEntry{name: "../x", body: "escape"}),
		makeZip(f, zipEntry{name: "l", body: "../outside", mode: fs.ModeSymlink | 0o777}),
		bombHeader(f),
	}
	return seeds
}

// bombHeader is a tar.gz whose one entry claims 1 TiB and carries a few
// bytes: the size in the header must not be trusted.
func bombHeader(f *testing.F) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	must(f, tw.WriteHeader(&tar.Header{Name: "bomb", Mode: 0o644, Size: 1 << 40, Typeflag: tar.TypeReg}))
	io.WriteString(tw, strings.Repeat("\x00", 4096))
	tw.Flush() // fails: the entry is short, which is the point
	zw.Close()
	return buf.Bytes()
}
