package paved

import (
	"github.com/pavedroad/terraform-provider-paved/internal/archive"
)

// Archive packs dir reproducibly as a tar.gz: the same tree gives the same
// bytes and sha256 whatever the mtimes or walk order, skipping .git and the
// patterns listed in a .pavedignore file at the root. It returns the bytes
// and their sha256 in hex, which is the source digest apps refer to.
func Archive(dir string) (data []byte, digest string, err error) {
	return archive.PackBytes(dir)
}
