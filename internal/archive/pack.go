package archive

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"time"
)

// packTime is the modification time recorded for every packed entry. Real
// mtimes differ between checkouts of the same commit and would change the
// digest. 1980-01-01 (rather than the Unix epoch) is the earliest time a zip
// can hold, so the constant survives a conversion to zip unchanged.
var packTime = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

// packLevel is the gzip level used by Pack. It is fixed (it equals
// compress/flate's default) because a different level produces different
// bytes and hence a different digest for the same tree.
const packLevel = 6

// Normalised permissions. Only "is it executable" matters to a build, and
// keeping group/other bits would make the digest depend on the umask of
// whoever checked the tree out.
const (
	modeFile    = 0o644
	modeExec    = 0o755
	modeDir     = 0o755
	modeSymlink = 0o777 // what tar(1) records; ignored on extraction
)

// Pack writes dir as a gzip-compressed tar to w.
//
// The output is reproducible: for the same tree and Go toolchain it is
// byte-for-byte identical regardless of mtimes, atimes, owners, umask or
// directory order. Entries are written depth-first in byte order of names,
// directories (with a trailing "/") before their contents, with mtime
// packTime, uid/gid 0, no owner names, and mode 0644, 0755 (any exec bit
// set) or 0755 for directories. The gzip header has no name and no mtime.
//
// Any entry named .git and anything excluded by dir's IgnoreFile are
// skipped. Symlinks are stored as symlinks with their target verbatim (the
// cell rejects targets that leave the tree); devices, sockets and fifos are
// skipped, as they are not application content.
func Pack(dir string, w io.Writer) error {
	info, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !info.IsDir() {
		return fmt.Errorf("pack %s: not a directory", dir)
	}
	ignore, err := loadIgnore(dir)
	if err != nil {
		return err
	}
	// NewWriterLevel only fails for an invalid level, and packLevel is valid.
	// Its zero Header has no name and a zero mtime, as reproducibility needs.
	gz, _ := gzip.NewWriterLevel(w, packLevel)
	tw := tar.NewWriter(gz)
	p := &packer{root: dir, ignore: ignore, tw: tw}
	if err := p.walkDir(""); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}

// PackBytes packs dir in memory and returns the archive with its hex sha256.
func PackBytes(dir string) (data []byte, sha256hex string, err error) {
	var buf bytes.Buffer
	if err := Pack(dir, &buf); err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(buf.Bytes())
	return buf.Bytes(), hex.EncodeToString(sum[:]), nil
}

// Digest returns the hex sha256 of everything read from r and its length,
// the identity under which a cell stores an archive.
func Digest(r io.Reader) (string, int64, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return "", n, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// packer holds the state of one Pack call.
type packer struct {
	root   string // directory being packed, in OS syntax
	ignore ignoreList
	tw     *tar.Writer
}

// walkDir packs the contents of the directory at slash path rel ("" is the
// root). os.ReadDir sorts by name, which makes the entry order independent
// of the file system's on-disk order.
func (p *packer) walkDir(rel string) error {
	entries, err := os.ReadDir(p.osPath(rel))
	if err != nil {
		return err
	}
	for _, e := range entries {
		child := path.Join(rel, e.Name())
		if p.skip(child, e.IsDir()) {
			continue
		}
		if err := p.add(child); err != nil {
			return err
		}
	}
	return nil
}

// skip reports whether the entry at slash path rel is left out.
func (p *packer) skip(rel string, isDir bool) bool {
	switch {
	case path.Base(rel) == ".git":
		// Both the directory and the .git file of a submodule or worktree:
		// history is not app content and can be huge.
		return true
	case rel == IgnoreFile:
		return false
	default:
		return p.ignore.match(rel, isDir)
	}
}

// add packs one entry, recursing into directories. It uses Lstat so that
// symlinks are recorded as links and never followed out of the tree.
func (p *packer) add(rel string) error {
	full := p.osPath(rel)
	info, err := os.Lstat(full)
	if err != nil {
		return err
	}
	switch mode := info.Mode(); {
	case mode.IsDir():
		if err := p.writeHeader(tar.TypeDir, rel+"/", modeDir, 0, ""); err != nil {
			return err
		}
		return p.walkDir(rel)
	case mode&fs.ModeSymlink != 0:
		target, err := os.Readlink(full)
		if err != nil {
			return err
		}
		return p.writeHeader(tar.TypeSymlink, rel, modeSymlink, 0, target)
	case mode.IsRegular():
		return p.addFile(rel, full)
	default:
		return nil // device, socket, fifo: nothing a build can use
	}
}

// addFile packs a regular file. Size and mode come from the open
// descriptor, and exactly that many bytes are copied, so a file changing
// underneath us yields an error instead of a corrupt entry.
func (p *packer) addFile(rel, full string) error {
	f, err := os.Open(full)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	if !info.Mode().IsRegular() {
		return fmt.Errorf("pack %s: changed type while packing", full)
	}
	mode := int64(modeFile)
	if info.Mode()&0o111 != 0 {
		mode = modeExec
	}
	if err := p.writeHeader(tar.TypeReg, rel, mode, info.Size(), ""); err != nil {
		return err
	}
	if _, err := io.CopyN(p.tw, f, info.Size()); err != nil {
		return fmt.Errorf("pack %s: %w (did it change while packing?)", full, err)
	}
	return nil
}

// writeHeader writes a tar header carrying only what Pack wants to
// preserve. The header is built by hand rather than with tar.FileInfoHeader,
// which would copy owners, names and times from the file system.
func (p *packer) writeHeader(typ byte, name string, mode, size int64, link string) error {
	return p.tw.WriteHeader(&tar.Header{
		Typeflag: typ,
		Name:     name,
		Linkname: link,
		Size:     size,
		Mode:     mode,
		ModTime:  packTime,
		// PAX is used only when a name or link needs it (long or non-ASCII),
		// and then deterministically; no atime/ctime records are written.
		Format: tar.FormatPAX,
	})
}

// osPath converts a slash path relative to the root into an OS path.
func (p *packer) osPath(rel string) string {
	return filepath.Join(p.root, filepath.FromSlash(rel))
}
