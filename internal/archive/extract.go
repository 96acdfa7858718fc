package archive

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path"
)

// Defaults applied to zero (or negative) Limits fields.
const (
	DefaultMaxBytes int64 = 1 << 30
	DefaultMaxFiles       = 100_000
)

// Limits bounds what one extraction may create. Both limits count what is
// actually decompressed and created, never what headers declare.
type Limits struct {
	// MaxBytes caps the total bytes written to files (and read as symlink
	// targets from zip). The raw decompressed stream, which also carries
	// headers, padding and anything after the end of the archive, is capped
	// at twice MaxBytes plus 1 MiB, so header-only bombs are stopped too.
	MaxBytes int64
	// MaxFiles caps the number of entries, counting parent directories that
	// are created implicitly because the archive didn't list them.
	MaxFiles int
}

// withDefaults fills in unset limits.
func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxFiles <= 0 {
		l.MaxFiles = DefaultMaxFiles
	}
	return l
}

// rawLimit caps the raw archive stream (decompressed tar, or a zip spooled
// to disk). Metadata costs far less than the content it describes in any
// real archive, so this is generous, yet it still bounds the work an
// attacker can cause with huge headers or trailing padding.
func (l Limits) rawLimit() int64 {
	const allowance = 1 << 20
	if l.MaxBytes > (math.MaxInt64-allowance)/2 {
		return math.MaxInt64
	}
	return 2*l.MaxBytes + allowance
}

// ExtractFile extracts the tar, tar.gz or zip archive stored at path into
// the existing directory dst. It is the main entry point on a cell, where
// uploads are kept as files: a zip is read in place instead of being copied.
// See Extract for the safety rules.
func ExtractFile(path, dst string, lim Limits) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	head := make([]byte, sniffLen)
	n, err := f.ReadAt(head, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	lim = lim.withDefaults()
	switch format := sniff(head[:n]); format {
	case formatZip:
		src := &errRecorderAt{r: f}
		return extractInto(dst, lim, src.failed, func(x *extractor) error {
			return x.extractZip(src, info.Size())
		})
	case formatGzip, formatTar:
		src := &errRecorder{r: f} // ReadAt left the offset at 0
		return extractInto(dst, lim, src.failed, func(x *extractor) error {
			return x.extractTar(bufio.NewReaderSize(src, readBufSize), format == formatGzip)
		})
	default:
		return unknownFormat(head[:n])
	}
}

// Extract extracts a tar, tar.gz or zip archive read from r into the
// existing directory dst, detecting the format from its first bytes. A zip
// is first spooled to a temporary file (zip needs random access), bounded by
// the raw-stream limit described in Limits.
//
// Extraction refuses, with an error wrapping ErrUnsafe and naming the
// entry: absolute names, names with "..", backslashes or NUL bytes;
// symlinks with absolute targets, targets that resolve outside dst, or
// targets with ".." after a name (which could climb out through another
// link; see linkTargetProblem); any
// entry below a symlink or a file extracted earlier; duplicate entries;
// hard links except to a regular file extracted earlier from the same
// archive; devices, fifos and other special entries. Exceeding lim wraps
// ErrTooLarge, and anything unreadable or corrupt (including a bad gzip
// checksum) wraps ErrFormat. Other errors come from reading r or writing
// dst. All writes go through an os.Root, so even a bug in these checks
// cannot write outside dst.
//
// Files get mode 0755 if any exec bit is set in the archive, else 0644;
// directories 0755; mtimes and owners are not restored. An entry replaces a
// file or symlink already in dst, but dst is expected to be empty. On error
// dst may hold a partial extraction, which the caller should remove. Names
// are compared byte-wise, so dst should be on a case-sensitive file system.
func Extract(r io.Reader, dst string, lim Limits) error {
	lim = lim.withDefaults()
	src := &errRecorder{r: r}
	br := bufio.NewReaderSize(src, readBufSize)
	head, _ := br.Peek(sniffLen) // a short read just means a short archive
	if src.err != nil {
		return fmt.Errorf("reading archive: %w", src.err)
	}
	switch format := sniff(head); format {
	case formatZip:
		return extractSpooledZip(br, src, dst, lim)
	case formatGzip, formatTar:
		return extractInto(dst, lim, src.failed, func(x *extractor) error {
			return x.extractTar(br, format == formatGzip)
		})
	default:
		return unknownFormat(head)
	}
}

// extractSpooledZip copies a zip from r to a temporary file and extracts it.
func extractSpooledZip(r io.Reader, src *errRecorder, dst string, lim Limits) error {
	tmp, err := os.CreateTemp("", "paved-upload-*.zip")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	limit := lim.rawLimit()
	n, err := io.Copy(tmp, io.LimitReader(r, oneMore(limit)))
	switch {
	case src.err != nil:
		return fmt.Errorf("reading archive: %w", src.err)
	case err != nil:
		return fmt.Errorf("spooling zip: %w", err)
	case n > limit:
		return fmt.Errorf("%w: zip archive larger than %d bytes", ErrTooLarge, limit)
	}
	spool := &errRecorderAt{r: tmp}
	return extractInto(dst, lim, spool.failed, func(x *extractor) error {
		return x.extractZip(spool, n)
	})
}

// Archive formats recognised by sniff.
type format int

const (
	formatUnknown format = iota
	formatGzip
	formatZip
	formatTar
)

const (
	// sniffLen is enough to see the ustar magic at offset 257 of a tar header.
	sniffLen = 512
	// readBufSize buffers the input; gzip reads it byte by byte.
	readBufSize = 64 << 10
)

// sniff identifies an archive from its leading bytes.
func sniff(head []byte) format {
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		return formatGzip
	case bytes.HasPrefix(head, []byte("PK\x03\x04")),
		bytes.HasPrefix(head, []byte("PK\x05\x06")): // empty zip
		return formatZip
	case len(head) >= 262 && string(head[257:262]) == "ustar":
		return formatTar
	}
	return formatUnknown
}

// unknownFormat reports input that sniff did not recognise.
func unknownFormat(head []byte) error {
	if len(head) == 0 {
		return fmt.Errorf("%w: empty input", ErrFormat)
	}
	return fmt.Errorf("%w: unrecognised leading bytes %x", ErrFormat, head[:min(len(head), 4)])
}

// entryKind records what an extraction put at a path.
type entryKind uint8

const (
	kindNone entryKind = iota
	kindDir
	kindFile
	kindSymlink
)

// extractor holds the state of one extraction.
type extractor struct {
	root *os.Root
	lim  Limits
	// srcErr returns the first I/O error from the caller's input, which
	// tells a transport failure apart from a corrupt archive.
	srcErr func() error
	// raw caps the decompressed tar stream; nil for zip.
	raw *capReader
	// seen maps each clean path created so far, including implicit parent
	// directories, to its kind. It is what refuses duplicates and writes
	// through symlinks without trusting the file system's state.
	seen    map[string]entryKind
	entries int   // counted against MaxFiles
	written int64 // content bytes, counted against MaxBytes
}

// extractInto opens dst as an os.Root and runs fn with a fresh extractor.
func extractInto(dst string, lim Limits, srcErr func() error, fn func(*extractor) error) error {
	root, err := os.OpenRoot(dst)
	if err != nil {
		return err
	}
	defer root.Close()
	return fn(&extractor{root: root, lim: lim, srcErr: srcErr, seen: make(map[string]entryKind)})
}

// readFailure classifies an error met while reading the archive at the
// point described by where: the caller's I/O, a limit, or a bad archive.
func (x *extractor) readFailure(where string, err error) error {
	if ioErr := x.srcErr(); ioErr != nil {
		return fmt.Errorf("reading archive: %w", ioErr)
	}
	if x.raw != nil && x.raw.exceeded {
		return fmt.Errorf("%w: %s: decompressed stream exceeds %d bytes", ErrTooLarge, where, x.raw.limit)
	}
	if errors.Is(err, tar.ErrInsecurePath) || errors.Is(err, zip.ErrInsecurePath) {
		return fmt.Errorf("%w: %s: %w", ErrUnsafe, where, err)
	}
	return fmt.Errorf("%w: corrupt archive %s: %w", ErrFormat, where, err)
}

// extractTar extracts a tar stream, gzip-compressed if gzipped.
func (x *extractor) extractTar(r io.Reader, gzipped bool) error {
	if gzipped {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return x.readFailure("in gzip header", err)
		}
		defer zr.Close()
		r = zr
	}
	x.raw = &capReader{r: r, left: x.lim.rawLimit(), limit: x.lim.rawLimit()}
	tr := tar.NewReader(x.raw)
	where := "at start"
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if hdr != nil {
			where = fmt.Sprintf("at entry %q", hdr.Name)
		}
		if err != nil {
			return x.readFailure(where, err)
		}
		if err := x.tarEntry(tr, hdr); err != nil {
			return err
		}
		where = fmt.Sprintf("after entry %q", hdr.Name)
	}
	// tar stops at its end marker; reading on makes gzip verify its checksum
	// and reports trailing garbage, while the cap bounds how much padding an
	// attacker can make us inflate.
	if _, err := io.Copy(io.Discard, x.raw); err != nil {
		return x.readFailure("after the last entry", err)
	}
	return nil
}

// tarEntry extracts one tar entry.
func (x *extractor) tarEntry(tr *tar.Reader, hdr *tar.Header) error {
	switch hdr.Typeflag {
	case tar.TypeReg: // archive/tar reports the old '\x00' type as TypeReg
		return x.file(hdr.Name, hdr.Mode&0o111 != 0, tr)
	case tar.TypeDir:
		return x.dir(hdr.Name)
	case tar.TypeSymlink:
		return x.symlink(hdr.Name, hdr.Linkname)
	case tar.TypeLink:
		return x.hardlink(hdr.Name, hdr.Linkname)
	case tar.TypeXGlobalHeader:
		return nil // PAX defaults for later entries; archive/tar applies none we use
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		return unsafeEntry(hdr.Name, "device or fifo")
	default:
		return unsafeEntry(hdr.Name, fmt.Sprintf("unsupported tar entry type %q", hdr.Typeflag))
	}
}

// extractZip extracts the zip held in r.
func (x *extractor) extractZip(r io.ReaderAt, size int64) error {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return x.readFailure("in zip directory", err)
	}
	// The central directory lists every entry, so a count bomb can be
	// refused before anything is written.
	if len(zr.File) > x.lim.MaxFiles {
		return fmt.Errorf("%w: %d entries, more than %d", ErrTooLarge, len(zr.File), x.lim.MaxFiles)
	}
	for _, f := range zr.File {
		if err := x.zipEntry(f); err != nil {
			return err
		}
	}
	return nil
}

// zipEntry extracts one zip entry. Zip stores a symlink as a file, with the
// mode in the Unix external attributes and the target as its content.
func (x *extractor) zipEntry(f *zip.File) error {
	mode := f.Mode()
	switch {
	case mode.IsDir():
		return x.dir(f.Name)
	case mode&fs.ModeSymlink != 0:
		target, err := x.zipLinkTarget(f)
		if err != nil {
			return err
		}
		return x.symlink(f.Name, target)
	case mode.IsRegular():
		rc, err := f.Open()
		if err != nil {
			return x.readFailure(fmt.Sprintf("at entry %q", f.Name), err)
		}
		defer rc.Close()
		return x.file(f.Name, mode&0o111 != 0, rc)
	default:
		return unsafeEntry(f.Name, fmt.Sprintf("special file (mode %v)", mode))
	}
}

// zipLinkTarget reads a zip symlink's target, refusing absurdly long ones
// before they are held in memory.
func (x *extractor) zipLinkTarget(f *zip.File) (string, error) {
	where := fmt.Sprintf("at entry %q", f.Name)
	rc, err := f.Open()
	if err != nil {
		return "", x.readFailure(where, err)
	}
	defer rc.Close()
	target, err := io.ReadAll(io.LimitReader(rc, maxNameLen+1))
	if err != nil {
		return "", x.readFailure(where, err)
	}
	if len(target) > maxNameLen {
		return "", unsafeEntry(f.Name, "symlink target too long")
	}
	x.written += int64(len(target))
	if x.written > x.lim.MaxBytes {
		return "", fmt.Errorf("%w: %q: content exceeds %d bytes", ErrTooLarge, f.Name, x.lim.MaxBytes)
	}
	return string(target), nil
}

// dir creates a directory entry. The root itself ("./") is accepted and
// ignored, since `tar -C dir .` writes it.
func (x *extractor) dir(raw string) error {
	name, err := cleanName(raw)
	if err != nil || name == "." {
		return err
	}
	if err := x.claim(raw, name, kindDir); err != nil {
		return err
	}
	return x.mkdir(name)
}

// file creates a regular file from r, charging its bytes to MaxBytes.
func (x *extractor) file(raw string, exec bool, r io.Reader) error {
	name, err := cleanFileName(raw)
	if err != nil {
		return err
	}
	if err := x.claim(raw, name, kindFile); err != nil {
		return err
	}
	mode := fs.FileMode(modeFile)
	if exec {
		mode = modeExec
	}
	// O_EXCL: claim cleared the path, so anything there now is a surprise,
	// and O_EXCL never follows a symlink.
	f, err := x.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	// Chmod the descriptor so the umask does not change what the build sees.
	err = f.Chmod(mode)
	if err == nil {
		err = x.copyContent(raw, f, r)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// copyContent copies an entry's content to f, stopping one byte past the
// remaining MaxBytes budget so a bomb is detected without being inflated.
func (x *extractor) copyContent(raw string, f *os.File, r io.Reader) error {
	left := x.lim.MaxBytes - x.written
	src := &errRecorder{r: io.LimitReader(r, oneMore(left))}
	n, err := io.Copy(f, src)
	x.written += n
	switch {
	case src.err != nil:
		return x.readFailure(fmt.Sprintf("at entry %q", raw), src.err)
	case err != nil:
		return err
	case n > left:
		return fmt.Errorf("%w: %q: content exceeds %d bytes", ErrTooLarge, raw, x.lim.MaxBytes)
	}
	return nil
}

// symlink creates a symlink after checking that its target stays in dst.
func (x *extractor) symlink(raw, target string) error {
	name, err := cleanFileName(raw)
	if err != nil {
		return err
	}
	if reason := linkTargetProblem(name, target); reason != "" {
		return unsafeEntry(raw, reason)
	}
	if err := x.claim(raw, name, kindSymlink); err != nil {
		return err
	}
	return x.root.Symlink(target, name)
}

// hardlink creates a hard link. Only links to a regular file extracted
// earlier from this archive are allowed: such a file is known to be inside
// dst, whereas a link to anything else could expose or, once written,
// modify a file outside the upload.
func (x *extractor) hardlink(raw, target string) error {
	name, err := cleanFileName(raw)
	if err != nil {
		return err
	}
	if reason := nameProblem(target); reason != "" {
		return unsafeEntry(raw, fmt.Sprintf("hard link target %q: %s", target, reason))
	}
	old := path.Clean(target)
	if x.seen[old] != kindFile {
		return unsafeEntry(raw, fmt.Sprintf("hard link target %q is not a file extracted earlier", target))
	}
	if err := x.claim(raw, name, kindFile); err != nil {
		return err
	}
	return x.root.Link(old, name)
}

// claim registers a new entry at clean path name: it enforces MaxFiles,
// refuses duplicates and entries below symlinks or files, creates missing
// parent directories, and clears whatever dst already holds there.
func (x *extractor) claim(raw, name string, kind entryKind) error {
	if err := x.count(raw); err != nil {
		return err
	}
	if err := x.makeParents(raw, name); err != nil {
		return err
	}
	if prev := x.seen[name]; prev != kindNone && (prev != kindDir || kind != kindDir) {
		return unsafeEntry(raw, "duplicate of an earlier entry")
	}
	x.seen[name] = kind
	if kind == kindDir {
		return nil
	}
	// Removing (not following) a pre-existing symlink keeps this entry from
	// being written wherever that link points.
	if err := x.root.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// count charges one entry against MaxFiles.
func (x *extractor) count(raw string) error {
	x.entries++
	if x.entries > x.lim.MaxFiles {
		return fmt.Errorf("%w: %q: more than %d entries", ErrTooLarge, raw, x.lim.MaxFiles)
	}
	return nil
}

// makeParents checks and creates each parent directory of name in turn.
func (x *extractor) makeParents(raw, name string) error {
	for i := range len(name) {
		if name[i] != '/' {
			continue
		}
		parent := name[:i]
		switch x.seen[parent] {
		case kindDir:
			continue
		case kindSymlink:
			return unsafeEntry(raw, fmt.Sprintf("path goes through symlink %q", parent))
		case kindFile:
			return unsafeEntry(raw, fmt.Sprintf("parent %q is a file", parent))
		}
		if err := x.count(raw); err != nil {
			return err
		}
		if err := x.mkdir(parent); err != nil {
			return err
		}
		x.seen[parent] = kindDir
	}
	return nil
}

// mkdir creates a directory with mode 0755 regardless of the umask. An
// existing directory is kept: it is a repeated entry or was in dst already.
func (x *extractor) mkdir(name string) error {
	err := x.root.Mkdir(name, modeDir)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return x.root.Chmod(name, modeDir)
}

// oneMore returns n+1, saturating: reading one byte past a limit is how
// the limit is detected, and the +1 must not overflow for huge limits.
func oneMore(n int64) int64 {
	if n == math.MaxInt64 {
		return n
	}
	return n + 1
}

// capReader reads at most limit bytes from r and then fails with
// ErrTooLarge, recording that it did so.
type capReader struct {
	r        io.Reader
	left     int64
	limit    int64
	exceeded bool
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.exceeded {
		return 0, c.err()
	}
	// Allow one byte past the limit: reading it proves the stream is over.
	if int64(len(p)) > oneMore(c.left) {
		p = p[:c.left+1]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if c.left < 0 {
		c.exceeded = true
		return n - 1, c.err()
	}
	return n, err
}

func (c *capReader) err() error {
	return fmt.Errorf("%w: decompressed stream exceeds %d bytes", ErrTooLarge, c.limit)
}

// firstErr remembers the first real (non-EOF) error seen by a reader
// wrapper, so that an error surfacing through gzip, tar or zip can be
// attributed to the underlying source rather than to the archive.
type firstErr struct{ err error }

func (e *firstErr) note(err error) {
	if err != nil && !errors.Is(err, io.EOF) && e.err == nil {
		e.err = err
	}
}

// failed returns the recorded error, if any.
func (e *firstErr) failed() error { return e.err }

// errRecorder is an io.Reader that records the first error of r.
type errRecorder struct {
	firstErr
	r io.Reader
}

func (e *errRecorder) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	e.note(err)
	return n, err
}

// errRecorderAt is an io.ReaderAt that records the first error of r.
type errRecorderAt struct {
	firstErr
	r io.ReaderAt
}

func (e *errRecorderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := e.r.ReadAt(p, off)
	e.note(err)
	return n, err
}
