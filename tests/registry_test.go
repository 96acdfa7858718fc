package tests

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-version"

	"github.com/pavedroad/terraform-provider-paved/internal/testkit/testcell"
)

// registryHost is the test registry's name. It never resolves: the CLI
// config's host block tells the CLI where its services are (127.0.0.1).
const registryHost = "registry.paved.test"

// moduleVersions are the tags the test registry serves for every module;
// "~> 0.2" (at least 0.2, below 1.0) must pick 0.3.0.
var moduleVersions = []string{"0.1.0", "0.2.0", "0.2.1", "0.3.0", "1.0.0"}

// TestRegistryInstall installs the provider and a module from a registry as
// a user does: a test registry over HTTPS (a CA made here, trusted through
// SSL_CERT_FILE) serves the release artifacts of scripts/release.sh
// through the Provider Registry Protocol and the modules through the
// Module Registry Protocol; init must verify the checksums and the
// signature, write the lock file and resolve the module's highest matching
// version, and the configuration must apply and destroy.
func TestRegistryInstall(t *testing.T) {
	cell := testcell.Start(t)
	rel := releaseForRegistry(t)
	reg := newTestRegistry(t, rel, false)

	dir := t.TempDir()
	hello := filepath.Join(dir, "hello")
	copyTree(t, filepath.Join(repoRoot(), "examples", "hello"), hello)
	config := fmt.Sprintf(`terraform {
  required_providers {
    paved = { source = "%[1]s/pavedroad/paved", version = "%[2]s" }
  }
}

provider "paved" {}

module "web" {
  source  = "%[1]s/pavedroad/app-pipeline/paved"
  version = "~> 0.2"

  space      = "registry"
  name       = "web"
  repository = %[3]q
  source_dir = %[4]q
  build      = "go build -o hello ."
  command    = "./hello"
  routes     = ["web.registry.example.test"]
}

output "release" { value = module.web.release }
`, registryHost, rel.version, helloRepo(t), hello)
	work := filepath.Join(dir, "root")
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "main.tf"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"TF_CLI_CONFIG_FILE=" + reg.cliConfig,
		"SSL_CERT_FILE=" + reg.caFile,
		"TF_PLUGIN_CACHE_DIR=", // an empty plugin cache: everything comes from the registry
		"TF_IN_AUTOMATION=1",
		"PAVED_ENDPOINT=" + cell.Endpoint,
		"PAVED_TOKEN=" + cell.Token,
	}
	out := tofu(t, work, env, "init", "-input=false", "-no-color")
	t.Log(lastLine(out))

	// The module at the highest version "~> 0.2" allows.
	var mods struct {
		Modules []struct{ Key, Source, Version string }
	}
	readJSON(t, filepath.Join(work, ".terraform", "modules", "modules.json"), &mods)
	got := ""
	for _, m := range mods.Modules {
		if m.Key == "web" {
			got = m.Version
		}
	}
	if got != "0.3.0" {
		t.Errorf("module web installed at %q (%+v), want 0.3.0, the highest of %v matching ~> 0.2", got, mods.Modules, moduleVersions)
	}
	if !reg.served("/archives/app-pipeline/0.3.0.tar.gz") {
		t.Error("the registry never served app-pipeline 0.3.0's archive")
	}

	// The provider from the registry, checksummed in the lock file.
	lock, err := os.ReadFile(filepath.Join(work, ".terraform.lock.hcl"))
	if err != nil {
		t.Fatalf("no lock file: %v", err)
	}
	if !strings.Contains(string(lock), `provider "`+registryHost+`/pavedroad/paved"`) ||
		!strings.Contains(string(lock), `version     = "`+rel.version+`"`) ||
		!strings.Contains(string(lock), `"zh:`+rel.zipSum+`"`) {
		t.Errorf("the lock file does not pin %s/pavedroad/paved %s by its zip's sha256 %s:\n%s", registryHost, rel.version, rel.zipSum, lock)
	}
	if !reg.served("/files/"+filepath.Base(rel.zip)) || !reg.served("/files/"+filepath.Base(rel.sums)+".sig") {
		t.Error("init did not fetch the provider's zip and the signature of its SHA256SUMS from the registry")
	}

	tofu(t, work, env, "apply", "-input=false", "-auto-approve", "-no-color")
	a, err := cell.Client.Apps.Get(t.Context(), "registry", "web")
	if err != nil || a.Status != "running" {
		t.Fatalf("the module's app after apply: %+v %v", a, err)
	}
	if out := tofu(t, work, env, "plan", "-input=false", "-no-color", "-detailed-exitcode"); !strings.Contains(out, "No changes") {
		t.Errorf("the plan after apply is not empty:\n%s", out)
	}
	tofu(t, work, env, "destroy", "-input=false", "-auto-approve", "-no-color")
	if _, err := cell.Client.Spaces.Get(t.Context(), "registry"); err == nil {
		t.Error("the space is still on the cell after destroy")
	}
}

// TestRegistryRefusesBadSignature: a registry whose SHA256SUMS signature
// does not verify gets no provider installed.
func TestRegistryRefusesBadSignature(t *testing.T) {
	rel := releaseForRegistry(t)
	reg := newTestRegistry(t, rel, true)
	work := t.TempDir()
	config := fmt.Sprintf(`terraform {
  required_providers {
    paved = { source = "%s/pavedroad/paved", version = "%s" }
  }
}
`, registryHost, rel.version)
	if err := os.WriteFile(filepath.Join(work, "main.tf"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(tofuBin, "init", "-input=false", "-no-color")
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "TF_CLI_CONFIG_FILE="+reg.cliConfig, "SSL_CERT_FILE="+reg.caFile, "TF_PLUGIN_CACHE_DIR=")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(strings.ToLower(string(out)), "signature") {
		t.Fatalf("init with a bad signature: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(work, ".terraform.lock.hcl")); err == nil {
		t.Error("a lock file was written for a provider whose signature failed")
	}
}

// signOther is a valid detached signature, by the release's key, of bytes
// that are not its SHA256SUMS.
func signOther(t *testing.T, rel release) []byte {
	t.Helper()
	home := t.TempDir()
	other := filepath.Join(home, "other")
	os.WriteFile(other, []byte("not the sums\n"), 0o644)
	// A key of its own signs: the release's private key is gone with its build.
	for _, args := range [][]string{
		{"--passphrase", "", "--quick-gen-key", "other <other@paved.invalid>", "rsa2048", "sign", "1d"},
		{"--output", other + ".sig", "--detach-sign", other},
	} {
		cmd := exec.Command("gpg", append([]string{"--batch", "--quiet", "--homedir", home}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("gpg %v: %v\n%s", args, err, out)
		}
	}
	b, err := os.ReadFile(other + ".sig")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// release is one platform's provider release, as scripts/release.sh lays it out.
type release struct {
	dir, version  string
	zip, sums     string // paths
	zipSum        string // the zip's sha256, from SHA256SUMS
	keyID, keyPEM string // the signing key
}

// releaseForRegistry is this platform's release (version 0.1.0: a
// module's ">= 0.1.0" matches no prerelease), signed by a throwaway key,
// built once for every registry test.
func releaseForRegistry(t *testing.T) release {
	t.Helper()
	r, err := registryRelease()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var registryRelease = sync.OnceValues(func() (release, error) {
	dir := filepath.Join(work, "release")
	cmd := exec.Command(filepath.Join(repoRoot(), "scripts", "release.sh"), "--snapshot", dir)
	cmd.Env = append(os.Environ(), "RELEASE_VERSION=0.1.0", "RELEASE_PLATFORMS="+runtime.GOOS+"/"+runtime.GOARCH, "GPG_FINGERPRINT=")
	if out, err := cmd.CombinedOutput(); err != nil {
		return release{}, fmt.Errorf("release.sh: %w\n%s", err, out)
	}
	r := release{dir: dir, version: "0.1.0"}
	prefix := "terraform-provider-paved_" + r.version + "_"
	r.zip = filepath.Join(dir, prefix+runtime.GOOS+"_"+runtime.GOARCH+".zip")
	r.sums = filepath.Join(dir, prefix+"SHA256SUMS")
	sums, err := os.ReadFile(r.sums)
	if err != nil {
		return release{}, err
	}
	for sc := bufio.NewScanner(bytes.NewReader(sums)); sc.Scan(); {
		if sum, file, _ := strings.Cut(sc.Text(), "  "); file == filepath.Base(r.zip) {
			r.zipSum = sum
		}
	}
	key, err := os.ReadFile(filepath.Join(dir, "signing-key.asc"))
	if err != nil {
		return release{}, err
	}
	r.keyPEM = string(key)
	// The key's id, as gpg shows it (the registry protocol asks for it).
	out, err := exec.Command("gpg", "--batch", "--with-colons", "--import-options", "show-only", "--import", filepath.Join(dir, "signing-key.asc")).Output()
	if err != nil {
		return release{}, fmt.Errorf("gpg show-only: %w", err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Split(l, ":"); len(f) > 4 && f[0] == "pub" {
			r.keyID = f[4]
		}
	}
	if r.zipSum == "" || r.keyID == "" {
		return release{}, fmt.Errorf("release in %s: zip sum %q, key id %q", dir, r.zipSum, r.keyID)
	}
	return r, nil
})

type testRegistry struct {
	srv       *httptest.Server
	cliConfig string
	caFile    string

	mu   sync.Mutex
	hits map[string]bool // paths asked for
}

func (r *testRegistry) served(path string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hits[path]
}

// newTestRegistry serves rel and every module of modules/ at
// moduleVersions over HTTPS on loopback, and writes the CLI config and
// the CA file that point a CLI at it.
func newTestRegistry(t *testing.T, rel release, badSignature bool) *testRegistry {
	t.Helper()
	reg := &testRegistry{hits: map[string]bool{}}
	archives := moduleArchives(t)
	versions := make([]*version.Version, 0, len(moduleVersions))
	for _, v := range moduleVersions {
		versions = append(versions, version.Must(version.NewVersion(v)))
	}
	sort.Sort(version.Collection(versions))

	mux := http.NewServeMux()
	base := func() string { return reg.srv.URL }
	mux.HandleFunc("GET /v1/providers/pavedroad/paved/versions", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, map[string]any{"versions": []any{map[string]any{
			"version": rel.version, "protocols": []string{"6.0"},
			"platforms": []any{map[string]string{"os": runtime.GOOS, "arch": runtime.GOARCH}},
		}}})
	})
	mux.HandleFunc("GET /v1/providers/pavedroad/paved/{version}/download/{os}/{arch}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("version") != rel.version || r.PathValue("os") != runtime.GOOS || r.PathValue("arch") != runtime.GOARCH {
			http.NotFound(w, r)
			return
		}
		writeJSON(w, map[string]any{
			"protocols": []string{"6.0"}, "os": runtime.GOOS, "arch": runtime.GOARCH,
			"filename":              filepath.Base(rel.zip),
			"download_url":          base() + "/files/" + filepath.Base(rel.zip),
			"shasums_url":           base() + "/files/" + filepath.Base(rel.sums),
			"shasums_signature_url": base() + "/files/" + filepath.Base(rel.sums) + ".sig",
			"shasum":                rel.zipSum,
			"signing_keys": map[string]any{"gpg_public_keys": []any{map[string]string{
				"key_id": rel.keyID, "ascii_armor": rel.keyPEM,
			}}},
		})
	})
	mux.Handle("GET /files/", http.StripPrefix("/files/", http.FileServer(http.Dir(rel.dir))))
	if badSignature { // the signature of other bytes than the SHA256SUMS served
		mux.HandleFunc("GET /files/"+filepath.Base(rel.sums)+".sig", func(w http.ResponseWriter, _ *http.Request) {
			w.Write(signOther(t, rel))
		})
	}
	mux.HandleFunc("GET /v1/modules/pavedroad/{name}/paved/versions", func(w http.ResponseWriter, r *http.Request) {
		if _, ok := archives[r.PathValue("name")]; !ok {
			http.NotFound(w, r)
			return
		}
		list := []any{}
		for _, v := range versions {
			list = append(list, map[string]string{"version": v.String()})
		}
		writeJSON(w, map[string]any{"modules": []any{map[string]any{"versions": list}}})
	})
	mux.HandleFunc("GET /v1/modules/pavedroad/{name}/paved/{version}/download", func(w http.ResponseWriter, r *http.Request) {
		name, v := r.PathValue("name"), r.PathValue("version")
		if _, ok := archives[name]; !ok || !slices.Contains(moduleVersions, v) {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("X-Terraform-Get", base()+"/archives/"+name+"/"+v+".tar.gz")
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /archives/{name}/{file}", func(w http.ResponseWriter, r *http.Request) {
		body, ok := archives[r.PathValue("name")]
		v := strings.TrimSuffix(r.PathValue("file"), ".tar.gz")
		if !ok || !slices.Contains(moduleVersions, v) {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/gzip")
		w.Write(body)
	})

	reg.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reg.mu.Lock()
		reg.hits[r.URL.Path] = true
		reg.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	caPEM, cert := testCA(t)
	reg.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	reg.srv.StartTLS()
	t.Cleanup(reg.srv.Close)

	dir := t.TempDir()
	reg.caFile = filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(reg.caFile, caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	reg.cliConfig = filepath.Join(dir, "cli.tfrc")
	cfg := fmt.Sprintf(`host %q {
  services = {
    "providers.v1" = "%[2]s/v1/providers/",
    "modules.v1"   = "%[2]s/v1/modules/",
  }
}
`, registryHost, reg.srv.URL)
	if err := os.WriteFile(reg.cliConfig, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return reg
}

// moduleArchives packs each module of modules/ as a registry serves it: a
// tar.gz of its files, with the provider asked for by the test registry's
// name (a module published beside the provider, on the same registry).
func moduleArchives(t *testing.T) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	dirs, err := filepath.Glob(filepath.Join(repoRoot(), "modules", "*", "main.tf"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no modules: %v", err)
	}
	for _, main := range dirs {
		src := filepath.Dir(main)
		var buf strings.Builder
		gz := gzip.NewWriter(&buf)
		tw := tar.NewWriter(gz)
		err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(src, p)
			if strings.HasPrefix(rel, ".terraform") || strings.HasSuffix(rel, ".lock.hcl") {
				return nil
			}
			body, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if strings.HasSuffix(rel, ".tf") {
				body = []byte(strings.ReplaceAll(string(body), `"pavedroad/paved"`, `"`+registryHost+`/pavedroad/paved"`))
			}
			if err := tw.WriteHeader(&tar.Header{Name: rel, Mode: 0o644, Size: int64(len(body)), ModTime: time.Unix(0, 0)}); err != nil {
				return err
			}
			_, err = tw.Write(body)
			return err
		})
		if err == nil {
			err = tw.Close()
		}
		if err == nil {
			err = gz.Close()
		}
		if err != nil {
			t.Fatalf("pack %s: %v", src, err)
		}
		out[filepath.Base(src)] = []byte(buf.String())
	}
	return out
}

// testCA makes a CA and a certificate it signs for 127.0.0.1 and the
// registry's name; it returns the CA as PEM and the server's key pair.
func testCA(t *testing.T) ([]byte, tls.Certificate) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "paved test registry CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: registryHost},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{registryHost}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	cert, err := tls.X509KeyPair(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), cert
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
