// Package dropletfetch moves a droplet from the cell to a machine the cell
// does not control, such as a Kubernetes pod, without a registry: the cell
// packs the droplet once into a reproducible archive named by its sha256
// (Archives), hands the pod a token that opens that one archive for a
// while (Signer), serves it over its API (Archives.ServeHTTP), and the
// pod's init container downloads it, checks the digest and unpacks it
// (Fetch, behind `paved droplet fetch`).
//
// A token carries the droplet's key and an expiry, signed with HMAC-SHA256
// under a key only the cell holds. It opens nothing else: not another
// droplet, not the API. The runtime renews the tokens of running releases
// before they expire, so pods created later (a replacement after a node is
// lost) still fetch.
package dropletfetch

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// ErrBadToken is returned for a token that is malformed, forged, expired
// or made for another droplet.
var ErrBadToken = errors.New("dropletfetch: the token does not open this droplet")

// Signer makes and checks droplet tokens.
type Signer struct {
	key []byte
	now func() time.Time
}

// NewSigner returns a signer with key (at least 32 bytes).
func NewSigner(key []byte) (*Signer, error) {
	if len(key) < 32 {
		return nil, fmt.Errorf("dropletfetch: the signing key has %d bytes, want at least 32", len(key))
	}
	return &Signer{key: key, now: time.Now}, nil
}

// LoadOrCreateKey reads the signing key at path (64 hex digits), making
// one (mode 0600) on first use, so tokens stay valid across cell restarts.
func LoadOrCreateKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		key := make([]byte, 32)
		rand.Read(key)
		if err := os.WriteFile(path, []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("dropletfetch: write the signing key: %w", err)
		}
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("dropletfetch: read the signing key: %w", err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) < 32 {
		return nil, fmt.Errorf("dropletfetch: %s does not hold a key of 64 hex digits", path)
	}
	return key, nil
}

// Token opens the droplet with key digest until ttl from now.
func (s *Signer) Token(digest string, ttl time.Duration) string {
	payload := digest + "." + strconv.FormatInt(s.now().Add(ttl).Unix(), 10)
	return base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." + s.mac(payload)
}

// Verify checks that token opens the droplet digest now.
func (s *Signer) Verify(token, digest string) error {
	enc, mac, ok := strings.Cut(token, ".")
	if !ok {
		return ErrBadToken
	}
	raw, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		return ErrBadToken
	}
	payload := string(raw)
	if !hmac.Equal([]byte(mac), []byte(s.mac(payload))) {
		return ErrBadToken
	}
	d, exp, ok := strings.Cut(payload, ".")
	if !ok || d != digest {
		return ErrBadToken
	}
	unix, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || s.now().Unix() >= unix {
		return ErrBadToken
	}
	return nil
}

func (s *Signer) mac(payload string) string {
	h := hmac.New(sha256.New, s.key)
	h.Write([]byte("paved droplet token v1\x00" + payload))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}
