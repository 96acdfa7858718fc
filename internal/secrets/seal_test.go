package secrets

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func testKeyring(t *testing.T) *Keyring {
	t.Helper()
	kr, created, err := LoadKeyring(filepath.Join(t.TempDir(), "secrets.key"), true)
	if err != nil || !created {
		t.Fatalf("LoadKeyring: %v (created %v)", err, created)
	}
	return kr
}

func TestSealOpen(t *testing.T) {
	kr := testKeyring(t)
	plain := []byte(`{"DB_PASSWORD":"hunter22"}`)
	a, b := kr.Seal(plain), kr.Seal(plain)
	if a == b {
		t.Fatal("two seals of one value are equal: the nonce is not random")
	}
	if !strings.HasPrefix(a, "pvs1:"+kr.ID()+":") {
		t.Fatalf("sealed form %q lacks the version and key id", a)
	}
	if strings.Contains(a, "hunter22") {
		t.Fatal("the sealed form holds the plain text")
	}
	for _, s := range []string{a, b} {
		got, err := kr.Open(s)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("Open = %q, %v", got, err)
		}
	}
	// Any change fails: the ciphertext, and the header (the additional data).
	flipped := []byte(a)
	flipped[len(flipped)-3] ^= 1
	if _, err := kr.Open(string(flipped)); err == nil {
		t.Fatal("a tampered value opened")
	}
	other := testKeyring(t)
	if _, err := other.Open(a); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("another key opened it: %v", err)
	}
	forged := "pvs1:" + other.ID() + a[len("pvs1:")+8:]
	if _, err := other.Open(forged); err == nil {
		t.Fatal("a value with a forged key id opened")
	}
	if _, err := kr.Open("plain text"); err == nil {
		t.Fatal("an unsealed string opened")
	}
}

func TestKeyFileIsCreatedPrivateAndChecked(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "secrets.key")
	kr, _, err := LoadKeyring(path, true)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v", fi.Mode(), err)
	}
	b, _ := os.ReadFile(path)
	if len(b) != 2*KeySize+1 {
		t.Fatalf("key file holds %d bytes: %q", len(b), b)
	}
	again, created, err := LoadKeyring(path, true)
	if err != nil || created || again.ID() != kr.ID() {
		t.Fatalf("reload: %v created %v id %s != %s", err, created, again.ID(), kr.ID())
	}

	for name, tc := range map[string]struct {
		content string
		mode    os.FileMode
		want    string
	}{
		"world readable": {strings.Repeat("ab", 32) + "\n", 0o644, "readable by group or others (mode 0644)"},
		"group readable": {strings.Repeat("ab", 32), 0o640, "readable by group or others"},
		"short":          {strings.Repeat("ab", 16) + "\n", 0o600, "want a 32-byte key"},
		"raw bytes":      {strings.Repeat("k", 32), 0o600, "want a 32-byte key"},
		"not hex":        {strings.Repeat("zz", 32), 0o600, "want a 32-byte key"},
		"unreadable":     {strings.Repeat("ab", 32), 0o200, "unreadable"},
	} {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
		if err := os.WriteFile(p, []byte(tc.content), 0o600); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, tc.mode)
		_, _, err := LoadKeyring(p, false)
		if name == "unreadable" && os.Geteuid() == 0 {
			continue // root reads it anyway
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), KeyFlag+" "+p+": ") ||
			strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: err = %v, want one line naming %s and %q", name, err, KeyFlag, tc.want)
		}
	}
	if _, _, err := LoadKeyring(filepath.Join(dir, "missing"), false); err == nil || !strings.Contains(err.Error(), KeyFlag) {
		t.Errorf("a missing explicit key file: %v", err)
	}
	good := filepath.Join(dir, "openssl.key")
	os.WriteFile(good, []byte(strings.Repeat("0f", 32)+"\n"), 0o400)
	if _, _, err := LoadKeyring(good, false); err != nil {
		t.Errorf("an openssl rand -hex 32 file (0400): %v", err)
	}
}

func TestRotateKeepsOldUntilDropped(t *testing.T) {
	kr := testKeyring(t)
	sealed := kr.Seal([]byte("v"))
	next, err := kr.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	if next.ID() == kr.ID() || next.OldID() != kr.ID() || !next.Unfinished() {
		t.Fatalf("rotated keyring: id %s old %s (was %s)", next.ID(), next.OldID(), kr.ID())
	}
	if _, err := next.Rotate(); err == nil {
		t.Fatal("a second rotation started before the first finished")
	}
	// What a restart sees: both files.
	loaded, _, err := LoadKeyring(kr.Path(), false)
	if err != nil || loaded.ID() != next.ID() || loaded.OldID() != kr.ID() {
		t.Fatalf("reload mid-rotation: %v %s/%s", err, loaded.ID(), loaded.OldID())
	}
	if got, err := loaded.Open(sealed); err != nil || string(got) != "v" {
		t.Fatalf("the old key's value does not open mid-rotation: %v", err)
	}
	done, err := loaded.DropOld()
	if err != nil || done.OldID() != "" || done.Unfinished() {
		t.Fatalf("DropOld: %v", err)
	}
	if _, err := os.Stat(kr.Path() + OldSuffix); !os.IsNotExist(err) {
		t.Fatalf("the old key file is still there: %v", err)
	}
	if _, err := done.Open(sealed); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("the dropped key still opens: %v", err)
	}
	fi, _ := os.Stat(kr.Path())
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("the new key file has mode %v", fi.Mode())
	}
}
