package dropletfetch

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"github.com/pavedroad/terraform-provider-paved/internal/archive"
)

// Archives packs droplets into archives and serves them to token holders.
type Archives struct {
	// DropletDir locates a droplet's unpacked tree by its key (the
	// stager's DropletDir).
	DropletDir func(digest string) string
	// Dir holds the packed archives, <key>.tar.gz and <key>.sha256.
	Dir    string
	Signer *Signer

	mu sync.Mutex // one pack at a time; packing is idempotent anyway
}

var keyRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Archive packs the droplet with key digest (once) and returns its
// archive's sha256, which the fetcher checks.
func (a *Archives) Archive(digest string) (string, error) {
	if !keyRE.MatchString(digest) {
		return "", fmt.Errorf("dropletfetch: %q is not a droplet key", digest)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	sumPath := filepath.Join(a.Dir, digest+".sha256")
	if b, err := os.ReadFile(sumPath); err == nil {
		if _, err := os.Stat(a.path(digest)); err == nil {
			return strings.TrimSpace(string(b)), nil
		}
	}
	if err := os.MkdirAll(a.Dir, 0o700); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(a.Dir, digest+".*.tmp")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	if err := archive.Pack(a.DropletDir(digest), io.MultiWriter(tmp, h)); err != nil {
		tmp.Close()
		return "", fmt.Errorf("dropletfetch: pack droplet %s: %w", digest[:12], err)
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if err := os.Rename(tmp.Name(), a.path(digest)); err != nil {
		return "", err
	}
	if err := os.WriteFile(sumPath, []byte(sum+"\n"), 0o600); err != nil {
		return "", err
	}
	return sum, nil
}

// Remove drops a droplet's archive (it is made again when needed).
func (a *Archives) Remove(digest string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	os.Remove(a.path(digest))
	os.Remove(filepath.Join(a.Dir, digest+".sha256"))
}

func (a *Archives) path(digest string) string { return filepath.Join(a.Dir, digest+".tar.gz") }

// ErrNoArchive is returned by Open for a droplet that has not been packed.
var ErrNoArchive = errors.New("dropletfetch: no such droplet archive")

// Open checks token against digest and opens its archive.
func (a *Archives) Open(digest, token string) (*os.File, error) {
	if err := a.Signer.Verify(token, digest); err != nil {
		return nil, err
	}
	f, err := os.Open(a.path(digest))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNoArchive
	}
	return f, err
}

// ServeArchive answers GET /v1/droplets/{digest}/archive for a request
// whose bearer token is a droplet token for digest.
func (a *Archives) ServeArchive(w http.ResponseWriter, r *http.Request, digest string) error {
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	f, err := a.Open(digest, token)
	if err != nil {
		return err
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/gzip")
	http.ServeContent(w, r, "", fileModTime(f), f)
	return nil
}
