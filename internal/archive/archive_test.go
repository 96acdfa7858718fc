package archive

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ---- test tree helpers ----

// node is one entry of a test tree.
type node struct {
	path string      // slash-separated, relative to the root
	body string      // file content
	mode fs.FileMode // file permissions; 0 means 0644
	link string      // if set, a symlink with this target
	dir  bool        // an (empty) directory
}

// writeTree creates nodes under root, in the given order.
func writeTree(t testing.TB, root string, nodes []node) {
	t.Helper()
	for _, n := range nodes {
		p := filepath.Join(root, filepath.FromSlash(n.path))
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		switch {
		case n.dir:
			must(t, os.MkdirAll(p, 0o755))
		case n.link != "":
			must(t, os.Symlink(n.link, p))
		default:
			mode := n.mode
			if mode == 0 {
				mode = 0o644
			}
			must(t, os.WriteFile(p, []byte(n.body), mode))
			must(t, os.Chmod(p, mode)) // independent of the umask
		}
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// snapshot describes the tree under root as path → "dir 755",
// "file 644 <content>" or "link -> target".
func snapshot(t testing.TB, root string) map[string]string {
	t.Helper()
	got := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel := filepath.ToSlash(strings.TrimPrefix(p, root+string(filepath.Separator)))
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case info.IsDir():
			got[rel] = fmt.Sprintf("dir %o", info.Mode().Perm())
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			got[rel] = "link -> " + target
		default:
			body, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			got[rel] = fmt.Sprintf("file %o %s", info.Mode().Perm(), body)
		}
		return nil
	})
	must(t, err)
	return got
}

// diffMaps reports the differences between two snapshots.
func diffMaps(t testing.TB, got, want map[string]string) {
	t.Helper()
	for k, w := range want {
		if g, ok := got[k]; !ok {
			t.Errorf("missing %s (want %q)", k, w)
		} else if g != w {
			t.Errorf("%s = %q, want %q", k, g, w)
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected %s (%q)", k, g)
		}
	}
}

// packDigest packs dir and returns the archive's digest.
func packDigest(t testing.TB, dir string) string {
	t.Helper()
	data, sum, err := PackBytes(dir)
	must(t, err)
	d, n, err := Digest(bytes.NewReader(data))
	must(t, err)
	if d != sum || n != int64(len(data)) {
		t.Fatalf("Digest = %s/%d, PackBytes said %s/%d", d, n, sum, len(data))
	}
	return sum
}

// tarHeaders lists the headers of a tar.gz.
func tarHeaders(t testing.TB, data []byte) []*tar.Header {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	must(t, err)
	tr := tar.NewReader(zr)
	var hdrs []*tar.Header
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return hdrs
		}
		must(t, err)
		hdrs = append(hdrs, hdr)
	}
}

// ---- archive builders for extraction tests ----

// tarEntry describes one entry for makeTar.
type tarEntry struct {
	name string
	typ  byte // 0 means tar.TypeReg
	body string
	link string
	mode int64 // 0 means 0644
}

// makeTar builds a tar, gzip-compressed if gz, without any sanitising.
func makeTar(t testing.TB, gz bool, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.Writer = &buf
	var zw *gzip.Writer
	if gz {
		zw = gzip.NewWriter(&buf)
		w = zw
	}
	tw := tar.NewWriter(w)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: e.mode, ModTime: packTime}
		if hdr.Typeflag == 0 {
			hdr.Typeflag = tar.TypeReg
		}
		if hdr.Mode == 0 {
			hdr.Mode = 0o644
		}
		if hdr.Typeflag == tar.TypeReg {
			hdr.Size = int64(len(e.body))
		}
		must(t, tw.WriteHeader(hdr))
		_, err := io.WriteString(tw, e.body)
		must(t, err)
	}
	must(t, tw.Close())
	if zw != nil {
		must(t, zw.Close())
	}
	return buf.Bytes()
}

// zipEntry describes one entry for makeZip; a symlink's body is its target.
type zipEntry struct {
	name string
	body string
	mode fs.FileMode // 0 means a 0644 file
}

// makeZip builds a zip of stored (uncompressed) entries.
func makeZip(t testing.TB, entries ...zipEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		fh := &zip.FileHeader{Name: e.name, Method: zip.Store}
		mode := e.mode
		if mode == 0 {
			mode = 0o644
		}
		fh.SetMode(mode)
		w, err := zw.CreateHeader(fh)
		must(t, err)
		_, err = io.WriteString(w, e.body)
		must(t, err)
	}
	must(t, zw.Close())
	return buf.Bytes()
}

// zeros yields n zero bytes without allocating them.
func zeros(n int64) io.Reader { return io.LimitReader(zeroReader{}, n) }

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// sandbox returns an empty dst and an empty sibling outside, both inside a
// fresh box directory that must end up holding nothing else.
func sandbox(t testing.TB) (box, dst, outside string) {
	t.Helper()
	box = t.TempDir()
	dst = filepath.Join(box, "dst")
	outside = filepath.Join(box, "outside")
	must(t, os.Mkdir(dst, 0o755))
	must(t, os.Mkdir(outside, 0o755))
	return box, dst, outside
}

// assertConfined fails if anything was created in box outside dst, or if a
// symlink inside dst resolves to a path outside it.
func assertConfined(t testing.TB, box, dst string) {
	t.Helper()
	entries, err := os.ReadDir(box)
	must(t, err)
	for _, e := range entries {
		if e.Name() != "dst" && e.Name() != "outside" {
			t.Errorf("created outside dst: %s", e.Name())
		}
	}
	inOutside, err := os.ReadDir(filepath.Join(box, "outside"))
	must(t, err)
	for _, e := range inOutside {
		t.Errorf("created outside dst: outside/%s", e.Name())
	}
	realDst, err := filepath.EvalSymlinks(dst)
	must(t, err)
	err = filepath.WalkDir(dst, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink == 0 {
			return err
		}
		// A link that escapes is dangling here (outside is empty), so a
		// dangling link is resolved as far as the tree goes, not skipped.
		resolved, ok := resolveLoose(t, p)
		if !ok {
			return nil // a loop: points nowhere, and nothing outside holds a link
		}
		if resolved != realDst && !strings.HasPrefix(resolved, realDst+string(filepath.Separator)) {
			t.Errorf("symlink %s resolves outside dst to %s", p, resolved)
		}
		return nil
	})
	must(t, err)
}

// resolveLoose resolves p as the kernel would, following every symlink on
// the way, except that a name that does not exist ends the walk: the rest
// of the path is joined to it lexically. So a dangling link says where it
// would point once its target is created. ok is false for a symlink loop,
// or a path that goes on below a file (which points nowhere either).
func resolveLoose(t testing.TB, p string) (resolved string, ok bool) {
	t.Helper()
	split := func(s string) []string {
		return strings.FieldsFunc(s, func(r rune) bool { return r < 0x80 && os.IsPathSeparator(uint8(r)) })
	}
	root := func(s string) string { return filepath.VolumeName(s) + string(filepath.Separator) }
	abs, err := filepath.Abs(p)
	must(t, err)
	cur, rest := root(abs), split(abs[len(filepath.VolumeName(abs)):])
	for hops := 0; len(rest) > 0; {
		part := rest[0]
		rest = rest[1:]
		switch part {
		case ".":
			continue
		case "..":
			cur = filepath.Dir(cur) // cur has no symlink in it: this is its real parent
			continue
		}
		next := filepath.Join(cur, part)
		fi, err := os.Lstat(next)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return filepath.Join(append([]string{next}, rest...)...), true
		case err != nil:
			t.Fatalf("resolve %s: %v", p, err)
		case fi.Mode()&fs.ModeSymlink == 0:
			if !fi.IsDir() && len(rest) > 0 {
				return "", false
			}
			cur = next
			continue
		}
		if hops++; hops > 255 {
			return "", false
		}
		target, err := os.Readlink(next)
		must(t, err)
		if filepath.IsAbs(target) {
			cur, target = root(target), target[len(filepath.VolumeName(target)):]
		}
		rest = append(split(target), rest...)
	}
	return cur, true
}

// errorsOf records what a check reports instead of failing the test.
type errorsOf struct {
	testing.TB
	errs []string
}

func (e *errorsOf) Helper() {}
func (e *errorsOf) Errorf(format string, args ...any) {
	e.errs = append(e.errs, fmt.Sprintf(format, args...))
}

// assertConfined sees where dangling links would point, through other
// links: an escape into the empty outside is dangling, and must not pass.
func TestAssertConfinedResolvesDanglingLinks(t *testing.T) {
	for _, tc := range []struct {
		name, link, target string
		escapes            bool
	}{
		{"dangling into outside", "esc", "../outside/x", true},
		{"dangling above the box", "sub/esc", "../../../x", true},
		{"into outside itself", "out", "../outside", true},
		{"absolute, dangling", "abs", "/nonexistent-paved-test/x", true},
		{"dangling inside", "in", "missing/file", false},
		// d is sub/deeper: d/../.. is dst, where the lexical d/../.. is box.
		{"through a link, inside", "via", "d/../../x", false},
		{"through a link, outside", "viaOut", "d/../../../outside/y", true},
		{"loop", "loop", "loop", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			box, dst, _ := sandbox(t)
			must(t, os.MkdirAll(filepath.Join(dst, "sub", "deeper"), 0o755))
			must(t, os.Symlink(filepath.Join("sub", "deeper"), filepath.Join(dst, "d")))
			must(t, os.Symlink(filepath.FromSlash(tc.target), filepath.Join(dst, filepath.FromSlash(tc.link))))
			rec := &errorsOf{TB: t}
			assertConfined(rec, box, dst)
			if got := len(rec.errs) > 0; got != tc.escapes {
				t.Errorf("%s -> %s: reported %q, want an escape %v", tc.link, tc.target, rec.errs, tc.escapes)
			}
		})
	}
}

// extractors runs a test against both entry points.
var extractors = []struct {
	name string
	run  func(t testing.TB, data []byte, dst string, lim Limits) error
}{
	{"Extract", func(t testing.TB, data []byte, dst string, lim Limits) error {
		return Extract(bytes.NewReader(data), dst, lim)
	}},
	{"ExtractFile", func(t testing.TB, data []byte, dst string, lim Limits) error {
		// Keep the archive out of the sandbox so assertConfined stays exact.
		p := filepath.Join(t.TempDir(), "upload")
		must(t, os.WriteFile(p, data, 0o644))
		return ExtractFile(p, dst, lim)
	}},
}

// ---- Pack ----

// baseTree is the tree whose digest the reproducibility cases compare to.
var baseTree = []node{
	{path: IgnoreFile, body: "*.log\n"},
	{path: ".git/HEAD", body: "ref: refs/heads/main\n"},
	{path: "README.md", body: "hello\n"},
	{path: "bin/run.sh", body: "#!/bin/sh\necho hi\n", mode: 0o755},
	{path: "src/main.go", body: "package main\n"},
	{path: "src/readme", link: "../README.md"},
	{path: "assets", dir: true},
}

func TestPackReproducible(t *testing.T) {
	ref := t.TempDir()
	writeTree(t, ref, baseTree)
	want := packDigest(t, ref)
	if again := packDigest(t, ref); again != want {
		t.Fatalf("packing the same directory twice: %s then %s", want, again)
	}

	// tweak builds the base tree, then applies change.
	tweak := func(change func(t *testing.T, dir string)) func(*testing.T, string) {
		return func(t *testing.T, dir string) {
			writeTree(t, dir, baseTree)
			change(t, dir)
		}
	}
	at := func(dir, rel string) string { return filepath.Join(dir, filepath.FromSlash(rel)) }

	cases := []struct {
		name  string
		build func(t *testing.T, dir string)
		same  bool
	}{
		{"reverse creation order", func(t *testing.T, dir string) {
			reversed := slices.Clone(baseTree)
			slices.Reverse(reversed)
			writeTree(t, dir, reversed)
		}, true},
		{"different mtimes", tweak(func(t *testing.T, dir string) {
			when := time.Date(2011, 3, 4, 5, 6, 7, 8, time.UTC)
			for _, rel := range []string{"README.md", "bin/run.sh", "bin", "src", "assets", "."} {
				must(t, os.Chtimes(at(dir, rel), when, when))
			}
		}), true},
		{"group and other permission bits", tweak(func(t *testing.T, dir string) {
			must(t, os.Chmod(at(dir, "README.md"), 0o600))
			must(t, os.Chmod(at(dir, "bin/run.sh"), 0o700))
			must(t, os.Chmod(at(dir, "src"), 0o700))
		}), true},
		{"ignored file added", tweak(func(t *testing.T, dir string) {
			must(t, os.WriteFile(at(dir, "src/debug.log"), []byte("noise"), 0o644))
		}), true},
		{".git changed", tweak(func(t *testing.T, dir string) {
			must(t, os.WriteFile(at(dir, ".git/HEAD"), []byte("other"), 0o644))
		}), true},
		{"content changed", tweak(func(t *testing.T, dir string) {
			must(t, os.WriteFile(at(dir, "README.md"), []byte("hello!\n"), 0o644))
		}), false},
		{"exec bit cleared", tweak(func(t *testing.T, dir string) {
			must(t, os.Chmod(at(dir, "bin/run.sh"), 0o644))
		}), false},
		{"exec bit set", tweak(func(t *testing.T, dir string) {
			must(t, os.Chmod(at(dir, "README.md"), 0o744))
		}), false},
		{"file renamed", tweak(func(t *testing.T, dir string) {
			must(t, os.Rename(at(dir, "src/main.go"), at(dir, "src/app.go")))
		}), false},
		{"symlink retargeted", tweak(func(t *testing.T, dir string) {
			must(t, os.Remove(at(dir, "src/readme")))
			must(t, os.Symlink("./../README.md", at(dir, "src/readme")))
		}), false},
		{"empty directory added", tweak(func(t *testing.T, dir string) {
			must(t, os.Mkdir(at(dir, "assets/img"), 0o755))
		}), false},
		{"ignore rules changed", tweak(func(t *testing.T, dir string) {
			must(t, os.WriteFile(at(dir, IgnoreFile), []byte("*.log\n*.tmp\n"), 0o644))
		}), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.build(t, dir)
			got := packDigest(t, dir)
			if same := got == want; same != tc.same {
				t.Errorf("digest %s vs reference %s: same = %v, want %v", got, want, same, tc.same)
			}
		})
	}
}

func TestPackHeadersNormalised(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, baseTree)
	data, _, err := PackBytes(dir)
	must(t, err)

	// gzip: FLG (byte 3) has no FNAME/FCOMMENT, MTIME (bytes 4-7) is zero.
	if data[3] != 0 || !bytes.Equal(data[4:8], []byte{0, 0, 0, 0}) {
		t.Errorf("gzip header carries a name or time: % x", data[:10])
	}
	wantMode := map[byte]int64{tar.TypeReg: 0o644, tar.TypeDir: 0o755, tar.TypeSymlink: 0o777}
	for _, h := range tarHeaders(t, data) {
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" {
			t.Errorf("%s: owner %d:%d %q:%q, want 0:0 and no names", h.Name, h.Uid, h.Gid, h.Uname, h.Gname)
		}
		if !h.ModTime.Equal(packTime) {
			t.Errorf("%s: mtime %v, want %v", h.Name, h.ModTime, packTime)
		}
		want := wantMode[h.Typeflag]
		if h.Name == "bin/run.sh" {
			want = 0o755
		}
		if h.Mode != want {
			t.Errorf("%s: mode %o, want %o", h.Name, h.Mode, want)
		}
	}
}

func TestPackIgnore(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, []node{
		{path: IgnoreFile, body: "# build output\n\n*.log\nbuild/\n/secret.txt\ndocs/*.tmp\n  node_modules/  \n.pavedignore\n"},
		{path: ".git/HEAD", body: "x"},
		{path: "sub/.git", body: "gitdir: ../.git/modules/sub"},
		{path: "app.go", body: "x"},
		{path: "a.log", body: "x"},
		{path: "sub/b.log", body: "x"},
		{path: "build/out.bin", body: "x"},
		{path: "sub/build/x", body: "x"},
		{path: "cmd/build", body: "a file, not a directory"},
		{path: "secret.txt", body: "x"},
		{path: "sub/secret.txt", body: "x"},
		{path: "docs/a.tmp", body: "x"},
		{path: "docs/keep.md", body: "x"},
		{path: "other/docs/a.tmp", body: "x"},
		{path: "node_modules/x/y.js", body: "x"},
	})
	data, _, err := PackBytes(dir)
	must(t, err)
	var got []string
	for _, h := range tarHeaders(t, data) {
		got = append(got, h.Name)
	}
	want := []string{
		IgnoreFile, // kept even though it lists itself
		"app.go",
		"cmd/", "cmd/build",
		"docs/", "docs/keep.md",
		"other/", "other/docs/", "other/docs/a.tmp",
		"sub/", "sub/secret.txt",
	}
	if !slices.Equal(got, want) {
		t.Errorf("packed %q\nwant   %q", got, want)
	}
}

func TestPackIgnoreErrors(t *testing.T) {
	for _, rules := range []string{"!keep.log\n", "[oops\n"} {
		t.Run(rules, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, []node{{path: IgnoreFile, body: "*.log\n" + rules}})
			err := Pack(dir, io.Discard)
			if err == nil || !strings.Contains(err.Error(), IgnoreFile+":2:") {
				t.Errorf("Pack = %v, want an error pointing at line 2", err)
			}
		})
	}
}

// ---- Extract: valid archives ----

func TestPackExtractRoundTrip(t *testing.T) {
	src := t.TempDir()
	writeTree(t, src, []node{
		{path: IgnoreFile, body: "*.log\n"},
		{path: "README.md", body: "hello\n"},
		{path: "bin/run.sh", body: "#!/bin/sh\n", mode: 0o755},
		{path: "src/app/main.go", body: "package main\n", mode: 0o600},
		{path: "empty", dir: true},
		{path: "debug.log", body: "ignored"},
		{path: "src/readme", link: "../README.md"},
		{path: "bindir", link: "bin"},
		{path: "dangling", link: "nowhere"},
	})
	want := map[string]string{
		IgnoreFile:        "file 644 *.log\n",
		"README.md":       "file 644 hello\n",
		"bin":             "dir 755",
		"bin/run.sh":      "file 755 #!/bin/sh\n",
		"src":             "dir 755",
		"src/app":         "dir 755",
		"src/app/main.go": "file 644 package main\n",
		"empty":           "dir 755",
		"src/readme":      "link -> ../README.md",
		"bindir":          "link -> bin",
		"dangling":        "link -> nowhere",
	}
	data, _, err := PackBytes(src)
	must(t, err)
	for _, ex := range extractors {
		t.Run(ex.name, func(t *testing.T) {
			box, dst, _ := sandbox(t)
			must(t, ex.run(t, data, dst, Limits{}))
			diffMaps(t, snapshot(t, dst), want)
			assertConfined(t, box, dst)
			// The restored link works, not just its text.
			if body, err := os.ReadFile(filepath.Join(dst, "src/readme")); err != nil || string(body) != "hello\n" {
				t.Errorf("reading through src/readme: %q, %v", body, err)
			}
		})
	}
}

func TestExtractValid(t *testing.T) {
	cases := []struct {
		name string
		data []byte
		want map[string]string
	}{
		{
			name: "plain tar with ./ prefixes and hard link",
			data: makeTar(t, false,
				tarEntry{name: "./", typ: tar.TypeDir, mode: 0o700},
				tarEntry{name: "./a//b.txt", body: "b", mode: 0o600},
				tarEntry{name: "./run", body: "r", mode: 0o744},
				tarEntry{name: "./a/b2.txt", typ: tar.TypeLink, link: "./a/b.txt"},
				tarEntry{name: "a/", typ: tar.TypeDir}, // after its implicit creation
			),
			want: map[string]string{
				"a":        "dir 755",
				"a/b.txt":  "file 644 b",
				"a/b2.txt": "file 644 b",
				"run":      "file 755 r",
			},
		},
		{
			name: "zip with directories, exec bit and symlinks",
			data: makeZip(t,
				zipEntry{name: "app/", mode: fs.ModeDir | 0o755},
				zipEntry{name: "app/start", body: "go", mode: 0o755},
				zipEntry{name: "app/lib/util.txt", body: "u"},
				zipEntry{name: "app/latest", body: "lib/util.txt", mode: fs.ModeSymlink | 0o777},
				zipEntry{name: "top", body: "app/lib", mode: fs.ModeSymlink | 0o777},
			),
			want: map[string]string{
				"app":              "dir 755",
				"app/start":        "file 755 go",
				"app/lib":          "dir 755",
				"app/lib/util.txt": "file 644 u",
				"app/latest":       "link -> lib/util.txt",
				"top":              "link -> app/lib",
			},
		},
		{
			name: "empty zip",
			data: makeZip(t),
			want: map[string]string{},
		},
	}
	for _, tc := range cases {
		for _, ex := range extractors {
			t.Run(tc.name+"/"+ex.name, func(t *testing.T) {
				box, dst, _ := sandbox(t)
				must(t, ex.run(t, tc.data, dst, Limits{}))
				diffMaps(t, snapshot(t, dst), tc.want)
				assertConfined(t, box, dst)
			})
		}
	}
}

// ---- Extract: refusals ----

func TestExtractRejects(t *testing.T) {
	sym := func(name, target string) tarEntry { return tarEntry{name: name, typ: tar.TypeSymlink, link: target} }
	hard := func(name, target string) tarEntry { return tarEntry{name: name, typ: tar.TypeLink, link: target} }
	file := func(name string) tarEntry { return tarEntry{name: name, body: "pwned"} }
	zipSym := func(name, target string) zipEntry {
		return zipEntry{name: name, body: target, mode: fs.ModeSymlink | 0o777}
	}
	tgz := func(entries ...tarEntry) func(t testing.TB, out string) []byte {
		return func(t testing.TB, _ string) []byte { return makeTar(t, true, entries...) }
	}
	zipOf := func(entries ...zipEntry) func(t testing.TB, out string) []byte {
		return func(t testing.TB, _ string) []byte { return makeZip(t, entries...) }
	}
	valid := makeTar(t, true, file("a"), file("b"))

	cases := []struct {
		name string
		// archive builds the upload; out is the absolute path of a directory
		// outside dst that attacks aim at and that must stay empty.
		archive func(t testing.TB, out string) []byte
		lim     Limits
		want    error
		entry   string // the entry the error must name, if any
	}{
		// Names.
		{name: "dot dot", archive: tgz(file("../evil")), want: ErrUnsafe, entry: "../evil"},
		{name: "nested dot dot", archive: tgz(file("a/../../evil")), want: ErrUnsafe, entry: "a/../../evil"},
		{name: "absolute name", archive: func(t testing.TB, out string) []byte {
			return makeTar(t, true, file(filepath.ToSlash(out)+"/evil"))
		}, want: ErrUnsafe},
		{name: "backslash", archive: tgz(file(`..\..\evil`)), want: ErrUnsafe, entry: `..\..\evil`},
		{name: "file named root", archive: tgz(file(".")), want: ErrUnsafe, entry: "."},
		{name: "zip dot dot", archive: zipOf(zipEntry{name: "../evil", body: "x"}), want: ErrUnsafe, entry: "../evil"},
		{name: "zip absolute", archive: func(t testing.TB, out string) []byte {
			return makeZip(t, zipEntry{name: filepath.ToSlash(out) + "/evil", body: "x"})
		}, want: ErrUnsafe},
		{name: "zip drive letter", archive: zipOf(zipEntry{name: "C:/evil", body: "x"}), want: ErrUnsafe, entry: "C:/evil"},
		{name: "zip windows path", archive: zipOf(zipEntry{name: `C:\Windows\evil`, body: "x"}), want: ErrUnsafe, entry: `C:\Windows\evil`},

		// Symlinks.
		{name: "absolute symlink", archive: func(t testing.TB, out string) []byte {
			return makeTar(t, true, sym("link", out))
		}, want: ErrUnsafe, entry: "link"},
		{name: "escaping symlink", archive: tgz(sym("a/link", "../../evil")), want: ErrUnsafe, entry: "a/link"},
		{name: "symlink to parent of root", archive: tgz(sym("up", "..")), want: ErrUnsafe, entry: "up"},
		{name: "symlink chain", archive: tgz(sym("sub/up", ".."), sym("l2", "sub/up/..")), want: ErrUnsafe, entry: "l2"},
		{name: "write through absolute symlink", archive: func(t testing.TB, out string) []byte {
			return makeTar(t, true, sym("a", out), file("a/x"))
		}, want: ErrUnsafe, entry: "a"},
		{name: "write through inner symlink", archive: tgz(
			tarEntry{name: "b/", typ: tar.TypeDir}, sym("a", "b"), file("a/x"),
		), want: ErrUnsafe, entry: "a/x"},
		{name: "symlink over earlier file", archive: tgz(file("f"), sym("f", "g")), want: ErrUnsafe, entry: "f"},
		{name: "zip escaping symlink", archive: zipOf(zipSym("a/l", "../../evil")), want: ErrUnsafe, entry: "a/l"},
		{name: "zip write through symlink", archive: func(t testing.TB, out string) []byte {
			return makeZip(t, zipSym("a", out), zipEntry{name: "a/x", body: "x"})
		}, want: ErrUnsafe, entry: "a"},

		// Hard links and special files.
		{name: "hard link outside", archive: tgz(hard("h", "../outside/x")), want: ErrUnsafe, entry: "h"},
		{name: "hard link absolute", archive: tgz(hard("h", "/etc/passwd")), want: ErrUnsafe, entry: "h"},
		{name: "hard link to unknown file", archive: tgz(hard("h", "nope")), want: ErrUnsafe, entry: "h"},
		{name: "hard link to symlink", archive: tgz(sym("s", "x"), hard("h", "s")), want: ErrUnsafe, entry: "h"},
		{name: "char device", archive: tgz(tarEntry{name: "null", typ: tar.TypeChar}), want: ErrUnsafe, entry: "null"},
		{name: "block device", archive: tgz(tarEntry{name: "sda", typ: tar.TypeBlock}), want: ErrUnsafe, entry: "sda"},
		{name: "fifo", archive: tgz(tarEntry{name: "pipe", typ: tar.TypeFifo}), want: ErrUnsafe, entry: "pipe"},
		{name: "file under file", archive: tgz(file("f"), file("f/x")), want: ErrUnsafe, entry: "f/x"},
		{name: "zip fifo", archive: zipOf(zipEntry{name: "pipe", mode: fs.ModeNamedPipe | 0o644}), want: ErrUnsafe, entry: "pipe"},

		// Limits.
		{name: "too many files", archive: tgz(file("1"), file("2"), file("3"), file("4")),
			lim: Limits{MaxFiles: 3}, want: ErrTooLarge, entry: "4"},
		{name: "too many implicit directories", archive: tgz(file("a/b/c/d")),
			lim: Limits{MaxFiles: 3}, want: ErrTooLarge, entry: "a/b/c/d"},
		{name: "too many bytes", archive: tgz(file("a"), tarEntry{name: "b", body: "0123456789"}),
			lim: Limits{MaxBytes: 12}, want: ErrTooLarge, entry: "b"},
		{name: "zip too many files", archive: zipOf(zipEntry{name: "1"}, zipEntry{name: "2"}, zipEntry{name: "3"}),
			lim: Limits{MaxFiles: 2}, want: ErrTooLarge},
		{name: "zip too many bytes", archive: zipOf(zipEntry{name: "big", body: strings.Repeat("x", 100)}),
			lim: Limits{MaxBytes: 99}, want: ErrTooLarge, entry: "big"},

		// Corruption.
		{name: "empty input", archive: func(testing.TB, string) []byte { return nil }, want: ErrFormat},
		{name: "garbage", archive: func(testing.TB, string) []byte { return []byte("hello, world") }, want: ErrFormat},
		{name: "truncated tar.gz", archive: func(testing.TB, string) []byte { return valid[:len(valid)/2] }, want: ErrFormat},
		{name: "bad gzip checksum", archive: func(testing.TB, string) []byte {
			bad := bytes.Clone(valid)
			bad[len(bad)-8] ^= 0xff // first byte of the CRC-32 trailer
			return bad
		}, want: ErrFormat},
		{name: "gzip of non-tar", archive: func(t testing.TB, _ string) []byte {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			_, err := zw.Write(bytes.Repeat([]byte("not a tar header "), 100))
			must(t, err)
			must(t, zw.Close())
			return buf.Bytes()
		}, want: ErrFormat},
		{name: "truncated plain tar", archive: func(t testing.TB, _ string) []byte {
			return makeTar(t, false, tarEntry{name: "a", body: strings.Repeat("x", 2000)})[:1200]
		}, want: ErrFormat},
		{name: "zip bad checksum", archive: func(t testing.TB, _ string) []byte {
			data := makeZip(t, zipEntry{name: "a", body: "checksummed content"})
			i := bytes.Index(data, []byte("checksummed"))
			data[i] ^= 0xff
			return data
		}, want: ErrFormat},
		{name: "truncated zip", archive: func(t testing.TB, _ string) []byte {
			data := makeZip(t, zipEntry{name: "a", body: "x"})
			return data[:len(data)-10]
		}, want: ErrFormat},
	}
	for _, tc := range cases {
		for _, ex := range extractors {
			t.Run(tc.name+"/"+ex.name, func(t *testing.T) {
				box, dst, out := sandbox(t)
				err := ex.run(t, tc.archive(t, out), dst, tc.lim)
				t.Log(err)
				if !errors.Is(err, tc.want) {
					t.Fatalf("error = %v, want %v", err, tc.want)
				}
				if !IsInvalid(err) {
					t.Errorf("IsInvalid(%v) = false", err)
				}
				if tc.entry != "" && !strings.Contains(err.Error(), strconv.Quote(tc.entry)) {
					t.Errorf("error %q does not name entry %q", err, tc.entry)
				}
				assertConfined(t, box, dst)
			})
		}
	}
}

func TestExtractBombs(t *testing.T) {
	const bomb = 50 << 20 // decompressed size
	lim := Limits{MaxBytes: 1 << 20}

	compress := func(t testing.TB, fill func(w io.Writer)) []byte {
		var buf bytes.Buffer
		zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		must(t, err)
		fill(zw)
		must(t, zw.Close())
		return buf.Bytes()
	}
	cases := []struct {
		name    string
		archive func(t testing.TB) []byte
	}{
		{"tar.gz file of zeros", func(t testing.TB) []byte {
			return compress(t, func(w io.Writer) {
				tw := tar.NewWriter(w)
				must(t, tw.WriteHeader(&tar.Header{Name: "zeros", Mode: 0o644, Size: bomb}))
				_, err := io.Copy(tw, zeros(bomb))
				must(t, err)
				must(t, tw.Close())
			})
		}},
		{"zeros after end of tar", func(t testing.TB) []byte {
			// Zero blocks read as an empty tar; the padding must still be capped.
			return compress(t, func(w io.Writer) {
				_, err := io.Copy(w, zeros(bomb))
				must(t, err)
			})
		}},
		{"zip of zeros", func(t testing.TB) []byte {
			var buf bytes.Buffer
			zw := zip.NewWriter(&buf)
			w, err := zw.Create("zeros")
			must(t, err)
			_, err = io.Copy(w, zeros(bomb))
			must(t, err)
			must(t, zw.Close())
			return buf.Bytes()
		}},
	}
	for _, tc := range cases {
		data := tc.archive(t)
		if len(data) > bomb/100 {
			t.Fatalf("%s: %d bytes is no bomb", tc.name, len(data))
		}
		for _, ex := range extractors {
			t.Run(tc.name+"/"+ex.name, func(t *testing.T) {
				box, dst, _ := sandbox(t)
				err := ex.run(t, data, dst, lim)
				if !errors.Is(err, ErrTooLarge) {
					t.Fatalf("error = %v, want ErrTooLarge", err)
				}
				var written int64
				for _, v := range snapshot(t, dst) {
					written += int64(len(v))
				}
				if written > lim.MaxBytes+100 {
					t.Errorf("wrote %d bytes before stopping, limit %d", written, lim.MaxBytes)
				}
				assertConfined(t, box, dst)
			})
		}
	}
}

func TestExtractReplacesExistingSymlink(t *testing.T) {
	// A link left in dst must be replaced, not written through.
	box, dst, out := sandbox(t)
	must(t, os.Symlink(out, filepath.Join(dst, "a")))
	must(t, Extract(bytes.NewReader(makeTar(t, true, tarEntry{name: "a", body: "new"})), dst, Limits{}))
	diffMaps(t, snapshot(t, dst), map[string]string{"a": "file 644 new"})
	assertConfined(t, box, dst)
}

func TestExtractHugeLimits(t *testing.T) {
	// Limits near MaxInt64 must not overflow into "nothing allowed".
	box, dst, _ := sandbox(t)
	data := makeTar(t, true, tarEntry{name: "a", body: "content"})
	must(t, Extract(bytes.NewReader(data), dst, Limits{MaxBytes: math.MaxInt64, MaxFiles: math.MaxInt}))
	diffMaps(t, snapshot(t, dst), map[string]string{"a": "file 644 content"})
	assertConfined(t, box, dst)
}

// ---- Extract: errors that are not the archive's fault ----

// failAfter yields data and then fails like a dropped connection.
type failAfter struct {
	data []byte
	err  error
}

func (f *failAfter) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

func TestExtractIOErrorsAreNotInvalid(t *testing.T) {
	reset := errors.New("connection reset")
	big := makeTar(t, true, tarEntry{name: "a", body: strings.Repeat("abc", 50_000)})
	_, dst, _ := sandbox(t)

	err := Extract(&failAfter{data: big[:len(big)/2], err: reset}, dst, Limits{})
	if !errors.Is(err, reset) || IsInvalid(err) {
		t.Errorf("broken reader: error = %v, want the reader's error and not IsInvalid", err)
	}
	err = Extract(bytes.NewReader(big), filepath.Join(dst, "missing"), Limits{})
	if err == nil || IsInvalid(err) {
		t.Errorf("missing dst: error = %v, want an I/O error", err)
	}
	err = ExtractFile(filepath.Join(dst, "missing.tgz"), dst, Limits{})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing archive: error = %v, want fs.ErrNotExist", err)
	}
}
