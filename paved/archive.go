package paved

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strings"

	"github.com/pavedroad/terraform-provider-paved/internal/archive"
)

// Archive packs dir reproducibly as a tar.gz: the same tree gives the same
// bytes and sha256 whatever the mtimes or walk order, skipping .git and the
// patterns listed in a .pavedignore file at the root. It returns the bytes
// and their sha256 in hex, which is the source digest apps refer to.
func Archive(dir string) (data []byte, digest string, err error) {
	return archive.PackBytes(dir)
}

// ReadSource reads an app's source as users name it, the same way in every
// front end: a directory is packed with Archive; a .tar.gz, .tgz or .zip
// file is sent as it is. It returns the bytes and the digest the cell will
// know them by.
func ReadSource(path string) (data []byte, digest string, err error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, "", fmt.Errorf("source %q: %w", path, err)
	}
	if fi.IsDir() {
		return Archive(path)
	}
	if !IsArchivePath(path) {
		return nil, "", fmt.Errorf("source %q must be a directory, a .tar.gz or a .zip archive", path)
	}
	if data, err = os.ReadFile(path); err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(data)
	return data, hex.EncodeToString(sum[:]), nil
}

// IsArchivePath tells whether a source path names an archive ReadSource
// sends as it is.
func IsArchivePath(path string) bool {
	return strings.HasSuffix(path, ".tar.gz") || strings.HasSuffix(path, ".tgz") || strings.HasSuffix(path, ".zip")
}
