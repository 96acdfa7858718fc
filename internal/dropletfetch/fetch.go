package dropletfetch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/pavedroad/terraform-provider-paved/internal/archive"
)

func fileModTime(f *os.File) time.Time {
	if fi, err := f.Stat(); err == nil {
		return fi.ModTime()
	}
	return time.Time{}
}

// FetchOptions say where a droplet comes from and where it goes.
type FetchOptions struct {
	URL    string // the archive's URL (…/v1/droplets/<key>/archive)
	SHA256 string // the archive's digest, checked before anything is unpacked
	Token  string // a droplet token for it
	Dest   string // an empty or missing directory
	Client *http.Client
	Limits archive.Limits
}

// Fetch downloads the archive to a file next to Dest, checks its sha256
// and only then unpacks it into Dest. Transient failures (connection
// errors, 5xx) are retried a few times with backoff; a wrong digest or a
// refused token is not.
func Fetch(ctx context.Context, o FetchOptions) error {
	if o.URL == "" || o.SHA256 == "" || o.Dest == "" {
		return fmt.Errorf("dropletfetch: url, sha256 and dest are required")
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Minute}
	}
	if err := os.MkdirAll(filepath.Dir(o.Dest), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(o.Dest), ".droplet-*.tar.gz")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	var last error
	for attempt, wait := 0, 500*time.Millisecond; attempt < 6; attempt, wait = attempt+1, wait*2 {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
		}
		var retry bool
		retry, last = download(ctx, o, tmp)
		if last == nil || !retry {
			break
		}
	}
	if last != nil {
		return last
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if err := os.MkdirAll(o.Dest, 0o755); err != nil {
		return err
	}
	return archive.Extract(tmp, o.Dest, o.Limits)
}

// download writes the archive into f (truncated first) and checks its
// digest; retry says whether another attempt could help.
func download(ctx context.Context, o FetchOptions, f *os.File) (retry bool, err error) {
	if err := f.Truncate(0); err != nil {
		return false, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return false, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.URL, nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Authorization", "Bearer "+o.Token)
	resp, err := o.Client.Do(req)
	if err != nil {
		return true, fmt.Errorf("dropletfetch: GET %s: %w", o.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return resp.StatusCode >= 500, fmt.Errorf("dropletfetch: GET %s: %s: %s", o.URL, resp.Status, msg)
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(f, h), resp.Body); err != nil {
		return true, fmt.Errorf("dropletfetch: GET %s: %w", o.URL, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != o.SHA256 {
		return false, fmt.Errorf("dropletfetch: the archive from %s has sha256 %s, want %s: refusing to unpack it", o.URL, got, o.SHA256)
	}
	return false, nil
}
