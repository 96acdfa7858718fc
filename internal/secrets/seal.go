package secrets

// Secrets at rest. The store seals every secret value it keeps (today: an
// app's and a release's secret_env) with AES-256-GCM under a 32-byte key
// that lives in a file beside the database, never in it: a copy of
// paved.db (with its -wal and -shm) reveals no secret without that file.
//
// A sealed value is one printable string:
//
//	pvs1:<key id>:<base64 of nonce ‖ ciphertext ‖ tag>
//
// "pvs1" is the format version. The key id (8 hex digits derived from the
// key) tells which key sealed a value, so during a rotation (and after a
// crash in the middle of one) the old and the new key can both be present
// and each value is opened with the key that sealed it. The nonce is 12
// random bytes per value (cipher.NewGCMWithRandomNonce), so sealing the
// same value twice gives two unrelated strings. The header ("pvs1:<id>:")
// is the additional data: it cannot be altered without failing to open.

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KeySize is the length of a secrets key: AES-256.
const KeySize = 32

// sealVersion prefixes every sealed value.
const sealVersion = "pvs1"

// KeyFlag is the flag that names the key file; errors name it so that
// whoever reads one knows what to change.
const KeyFlag = "--secrets-key-file"

// OldSuffix names the previous key during a rotation: KEYFILE.old.
const OldSuffix = ".old"

// ErrUnknownKey is returned by Open for a value sealed with a key the
// keyring does not hold.
var ErrUnknownKey = errors.New("sealed with a key this keyring does not hold")

type key struct {
	id   string
	raw  []byte
	aead cipher.AEAD
}

func newKey(raw []byte) (key, error) {
	block, err := aes.NewCipher(raw)
	if err != nil {
		return key{}, err
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return key{}, err
	}
	return key{id: keyID(raw), raw: raw, aead: aead}, nil
}

// keyID names a key without revealing it: a truncated hash with a domain
// label, so the id is never the hash of the key used anywhere else.
func keyID(raw []byte) string {
	sum := sha256.Sum256(append([]byte("paved secrets key id\x00"), raw...))
	return hex.EncodeToString(sum[:4])
}

// Keyring seals with its current key and opens values sealed with the
// current key or, while a rotation is unfinished, the previous one (read
// from KEYFILE.old). A Keyring is immutable, so it is safe to share;
// Rotate returns a new one.
type Keyring struct {
	path string
	cur  key
	old  *key
	// oldFile: KEYFILE.old exists (it may hold the current key, when a
	// rotation stopped between writing it and replacing KEYFILE).
	oldFile bool
}

// ID is the current key's id.
func (k *Keyring) ID() string { return k.cur.id }

// OldID is the previous key's id, "" when there is none.
func (k *Keyring) OldID() string {
	if k.old == nil {
		return ""
	}
	return k.old.id
}

// Path is the key file.
func (k *Keyring) Path() string { return k.path }

// Unfinished reports whether KEYFILE.old exists: a rotation has not
// finished, and DropOld is due once every value is sealed with the
// current key.
func (k *Keyring) Unfinished() bool { return k.oldFile }

// Seal encrypts plain under the current key.
func (k *Keyring) Seal(plain []byte) string {
	header := sealVersion + ":" + k.cur.id + ":"
	return header + base64.RawStdEncoding.EncodeToString(k.cur.aead.Seal(nil, nil, plain, []byte(header)))
}

// SealedKeyID is the id of the key that sealed s; ok is false when s is
// not a sealed value of this version.
func SealedKeyID(s string) (id string, ok bool) {
	rest, ok := strings.CutPrefix(s, sealVersion+":")
	if !ok {
		return "", false
	}
	id, _, ok = strings.Cut(rest, ":")
	return id, ok && len(id) == 8
}

// Open decrypts a value Seal made with either key of the keyring.
func (k *Keyring) Open(sealed string) ([]byte, error) {
	id, ok := SealedKeyID(sealed)
	if !ok {
		return nil, errors.New("not a sealed value (want " + sealVersion + ":<key id>:<data>)")
	}
	var kk *key
	switch {
	case id == k.cur.id:
		kk = &k.cur
	case k.old != nil && id == k.old.id:
		kk = k.old
	default:
		return nil, fmt.Errorf("key %s: %w (it holds %s)", id, ErrUnknownKey, k.ids())
	}
	header := sealVersion + ":" + id + ":"
	data, err := base64.RawStdEncoding.DecodeString(sealed[len(header):])
	if err != nil {
		return nil, fmt.Errorf("sealed value: %w", err)
	}
	plain, err := kk.aead.Open(nil, nil, data, []byte(header))
	if err != nil {
		return nil, fmt.Errorf("sealed value under key %s does not open: %w", id, err)
	}
	return plain, nil
}

// Has reports whether the keyring can open values sealed with key id.
func (k *Keyring) Has(id string) bool {
	return id == k.cur.id || (k.old != nil && id == k.old.id)
}

func (k *Keyring) ids() string {
	if k.old == nil {
		return "key " + k.cur.id
	}
	return "keys " + k.cur.id + " and " + k.old.id + " (" + filepath.Base(k.path) + OldSuffix + ")"
}

// LoadKeyring reads the key in path and, if present, the previous key in
// path+".old" (a rotation that has not finished). When path does not
// exist and create is set (the default DATA/secrets.key), a new random
// key is written there (mode 0600). The file holds the key as 64 hex
// digits and an optional newline, e.g. `openssl rand -hex 32`; it must not
// be readable by group or others. Every error is one line naming
// --secrets-key-file.
func LoadKeyring(path string, create bool) (kr *Keyring, created bool, err error) {
	raw, err := readKeyFile(path)
	if errors.Is(err, fs.ErrNotExist) && create {
		raw = make([]byte, KeySize)
		rand.Read(raw) // never fails (crypto/rand crashes the program instead)
		if err := writeKeyFile(path, raw); err != nil {
			return nil, false, fmt.Errorf("%s %s: create: %w", KeyFlag, path, err)
		}
		created = true
	} else if err != nil {
		return nil, false, err
	}
	cur, err := newKey(raw)
	if err != nil {
		return nil, false, fmt.Errorf("%s %s: %w", KeyFlag, path, err)
	}
	kr = &Keyring{path: path, cur: cur}
	oldRaw, err := readKeyFile(path + OldSuffix)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, false, err
	default:
		old, err := newKey(oldRaw)
		if err != nil {
			return nil, false, fmt.Errorf("%s %s%s: %w", KeyFlag, path, OldSuffix, err)
		}
		kr.oldFile = true
		if old.id != cur.id {
			kr.old = &old
		}
	}
	return kr, created, nil
}

// readKeyFile reads and checks one key file. A missing file is returned
// as an error wrapping fs.ErrNotExist.
func readKeyFile(path string) ([]byte, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%s %s: %s", KeyFlag, path, fmt.Sprintf(format, args...))
	}
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s %s: no such file: %w", KeyFlag, path, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fail("%v", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fail("not a regular file")
	}
	// A key others can read protects nothing: refuse it rather than
	// quietly tighten it, since whoever made it that way may rely on it.
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fail("readable by group or others (mode %04o): chmod 600 it", perm)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fail("unreadable: %v", err)
	}
	text := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	raw, err := hex.DecodeString(text)
	if err != nil || len(raw) != KeySize {
		return nil, fail("want a %d-byte key written as %d hex digits and an optional newline (openssl rand -hex %d), found %d bytes of something else",
			KeySize, 2*KeySize, KeySize, len(b))
	}
	return raw, nil
}

// writeKeyFile replaces path with raw atomically: a temporary file (mode
// 0600) in the same directory, fsynced, renamed over path, and the
// directory fsynced, so after a crash path holds the old key or the new
// one, never a torn file.
func writeKeyFile(path string, raw []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	// A stale temporary file from a crash keeps its old mode: set it.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.WriteString(hex.EncodeToString(raw) + "\n"); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Rotate starts a rotation: it makes a new random key, keeps the current
// one as KEYFILE.old and then replaces KEYFILE with the new key, each
// file written atomically, in that order. Whatever the moment of a crash,
// the two files hold every key a value in the database can be sealed
// with: before the rename KEYFILE is still the old key (and .old a copy of
// it); after it, KEYFILE is the new key and .old the old one. The caller
// re-seals every value with the returned keyring in one transaction and
// then calls DropOld; a start that finds KEYFILE.old does the same (see
// store.Open). Rotate refuses while a previous rotation is unfinished.
func (k *Keyring) Rotate() (*Keyring, error) {
	if k.oldFile {
		return nil, fmt.Errorf("%s %s: a previous rotation is unfinished (%s%s exists)", KeyFlag, k.path, k.path, OldSuffix)
	}
	raw := make([]byte, KeySize)
	rand.Read(raw)
	next, err := newKey(raw)
	if err != nil {
		return nil, err
	}
	if err := writeKeyFile(k.path+OldSuffix, k.cur.raw); err != nil {
		return nil, fmt.Errorf("%s %s: keep the old key: %w", KeyFlag, k.path, err)
	}
	if err := writeKeyFile(k.path, raw); err != nil {
		return nil, fmt.Errorf("%s %s: write the new key: %w", KeyFlag, k.path, err)
	}
	old := k.cur
	return &Keyring{path: k.path, cur: next, old: &old, oldFile: true}, nil
}

// DropOld removes KEYFILE.old: to be called once no value sealed with the
// old key is left (the re-sealing transaction committed). It returns the
// keyring without the old key.
func (k *Keyring) DropOld() (*Keyring, error) {
	for _, p := range []string{k.path + OldSuffix, k.path + OldSuffix + ".tmp", k.path + ".tmp"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return k, fmt.Errorf("%s %s: %w", KeyFlag, k.path, err)
		}
	}
	if err := syncDir(filepath.Dir(k.path)); err != nil {
		return k, err
	}
	return &Keyring{path: k.path, cur: k.cur}, nil
}
