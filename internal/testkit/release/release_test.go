// Package release checks the provider's release artifacts (make
// release-snapshot, scripts/release.sh) as a registry and a user would:
// the layout, the SHA256SUMS, its signature, and a binary that runs.
package release

import (
	"archive/zip"
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

const name = "terraform-provider-paved"

func TestReleaseLayout(t *testing.T) {
	if testing.Short() {
		t.Skip("checks the artifacts of make release-snapshot (make release-test runs it)")
	}
	dir := os.Getenv("PAVED_RELEASE_DIR")
	if dir == "" {
		t.Fatal("PAVED_RELEASE_DIR names the directory make release-snapshot wrote (make release-test sets it)")
	}
	v, err := os.ReadFile(filepath.Join(dir, "VERSION"))
	if err != nil {
		t.Fatal(err)
	}
	version := strings.TrimSpace(string(v))
	prefix := name + "_" + version + "_"

	// Every archive of the registry layout, and nothing of this version else.
	want := map[string]bool{prefix + "manifest.json": true, prefix + "SHA256SUMS": true, prefix + "SHA256SUMS.sig": true}
	for _, os := range []string{"linux", "darwin", "windows"} {
		for _, arch := range []string{"amd64", "arm64"} {
			want[prefix+os+"_"+arch+".zip"] = true
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), name+"_") && !want[e.Name()] {
			t.Errorf("unexpected file %s", e.Name())
		}
		delete(want, e.Name())
	}
	for f := range want {
		t.Errorf("missing %s", f)
	}

	// The manifest says protocol 6.0.
	var manifest struct {
		Version  int `json:"version"`
		Metadata struct {
			ProtocolVersions []string `json:"protocol_versions"`
		} `json:"metadata"`
	}
	if b, err := os.ReadFile(filepath.Join(dir, prefix+"manifest.json")); err != nil || json.Unmarshal(b, &manifest) != nil ||
		manifest.Version != 1 || strings.Join(manifest.Metadata.ProtocolVersions, ",") != "6.0" {
		t.Errorf("manifest: %+v %v", manifest, err)
	}

	// SHA256SUMS lists each zip and the manifest with its real digest.
	sums := map[string]string{}
	f, err := os.Open(filepath.Join(dir, prefix+"SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for sc := bufio.NewScanner(f); sc.Scan(); {
		sum, file, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("SHA256SUMS line %q", sc.Text())
		}
		sums[file] = sum
	}
	if len(sums) != 7 {
		t.Errorf("SHA256SUMS lists %d files, want 6 zips and the manifest", len(sums))
	}
	for file, sum := range sums {
		if got := digest(t, filepath.Join(dir, file)); got != sum {
			t.Errorf("%s: sha256 %s, SHA256SUMS says %s", file, got, sum)
		}
	}

	// The signature verifies against the signing key.
	if key := filepath.Join(dir, "signing-key.asc"); exists(key) {
		home := t.TempDir()
		gpg := func(args ...string) {
			t.Helper()
			cmd := exec.Command("gpg", append([]string{"--batch", "--homedir", home}, args...)...)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("gpg %v: %v\n%s", args, err, out)
			}
		}
		gpg("--import", key)
		gpg("--verify", filepath.Join(dir, prefix+"SHA256SUMS.sig"), filepath.Join(dir, prefix+"SHA256SUMS"))
	} else {
		t.Log("no signing-key.asc (a release signed by GPG_FINGERPRINT): the signature's key is the publisher's")
	}

	// This machine's archive holds the binary under the registry's name,
	// and it runs.
	zipPath := filepath.Join(dir, prefix+runtime.GOOS+"_"+runtime.GOARCH+".zip")
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	bin := filepath.Join(t.TempDir(), name+"_v"+version)
	found := false
	for _, zf := range zr.File {
		if zf.Name != name+"_v"+version {
			continue
		}
		found = true
		rc, err := zf.Open()
		if err != nil {
			t.Fatal(err)
		}
		out, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(out, rc)
		rc.Close()
		out.Close()
	}
	if !found {
		t.Fatalf("%s holds no %s_v%s", zipPath, name, version)
	}
	out, err := exec.Command(bin, "-version").CombinedOutput()
	if got := strings.TrimSpace(string(out)); err != nil || got != name+" "+version {
		t.Errorf("%s -version: %q %v, want %q", bin, got, err, name+" "+version)
	}
}

func digest(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
