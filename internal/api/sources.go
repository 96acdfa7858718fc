package api

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"

	"github.com/pavedroad/terraform-provider-paved/internal/archive"
	"github.com/pavedroad/terraform-provider-paved/internal/store"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

func (s *Server) headSource(w http.ResponseWriter, r *http.Request) error {
	digest := r.PathValue("digest")
	if !paved.IsDigest(digest) {
		return badRequest("digest", "a source is named by its sha256: 64 lowercase hex digits")
	}
	src, err := s.Store.GetSource(r.Context(), digest)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("no source %s", digest)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, src)
	return nil
}

// putSource stores an archive under its sha256. The body is hashed while it
// is written to a temporary file; only a complete, matching, safe archive is
// renamed into place, so a failed upload leaves nothing behind.
func (s *Server) putSource(w http.ResponseWriter, r *http.Request) error {
	digest := r.PathValue("digest")
	if !paved.IsDigest(digest) {
		return badRequest("digest", "a source is named by its sha256: 64 lowercase hex digits")
	}
	if r.ContentLength > s.MaxSourceBytes {
		return tooLarge(s.MaxSourceBytes)
	}
	if src, err := s.Store.GetSource(r.Context(), digest); err == nil {
		// Drained for keep-alive, best effort.
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, s.MaxSourceBytes))
		writeJSON(w, http.StatusOK, src) // the same bytes are never stored twice
		return nil
	}
	dir := s.Stager.SourcesDir()
	tmp, err := os.CreateTemp(dir, "upload-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(r.Body, s.MaxSourceBytes+1))
	if err != nil {
		return badRequest("", "the upload was cut short: %v", err)
	}
	if n > s.MaxSourceBytes {
		return tooLarge(s.MaxSourceBytes)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != digest {
		return badRequest("digest", "the body's sha256 is %s, not %s as the URL says; the upload may be corrupt", got, digest)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := s.checkArchive(tmp.Name()); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, digest)); err != nil {
		return err
	}
	src, created, err := s.Store.PutSource(r.Context(), actor(r), digest, n)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, src)
	return nil
}

// checkArchive unpacks the upload into a throw-away dir with the same
// limits the stager uses, so an unsafe archive is refused at the door with
// the offending entry named, not at build time.
func (s *Server) checkArchive(path string) error {
	scratch, err := os.MkdirTemp(s.Stager.SourcesDir(), "check-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(scratch)
	err = archive.ExtractFile(path, scratch, s.Stager.Limits())
	switch {
	case err == nil:
		return nil
	case errors.Is(err, archive.ErrTooLarge):
		return newError(http.StatusRequestEntityTooLarge, paved.CodeTooLarge, "source", "%v", err)
	case errors.Is(err, archive.ErrUnsafe), errors.Is(err, archive.ErrFormat):
		return invalid("source", "%v", err)
	default:
		return invalid("source", "the archive cannot be read: %v", err)
	}
}

func tooLarge(limit int64) error {
	return newError(http.StatusRequestEntityTooLarge, paved.CodeTooLarge, "source",
		"the archive is larger than this cell accepts (%s); trim it with a .pavedignore file", humanBytes(limit))
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
