package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// TestPushArchive: paved push takes a .tar.gz as it is, as the provider and
// the Pulumi plugin do, and the app it makes answers; the same bytes as a
// directory are the same source.
func TestPushArchive(t *testing.T) {
	c := startCell(t)
	data, digest, err := paved.Archive(helloDir(t))
	if err != nil {
		t.Fatal(err)
	}
	tgz := filepath.Join(t.TempDir(), "hello.tar.gz")
	if err := os.WriteFile(tgz, data, 0o644); err != nil {
		t.Fatal(err)
	}
	c.mustPaved("space", "create", "arch")
	c.mustPaved("push", tgz, "--space", "arch", "--app", "web", "--build", "go build -o hello .", "--command", "./hello",
		"--route", "arch.test", "--health-path", "/healthz", "--timeout", "2m")
	if v := c.appShow("arch", "web"); v.Source != digest {
		t.Fatalf("the app's source is %s, want the archive's digest %s", v.Source, digest)
	}
	res, body, err := c.get(httpClient(), "arch.test", "/")
	if err != nil || res.StatusCode != http.StatusOK || !strings.Contains(body, "hello") {
		t.Fatalf("the app from the archive: %v %v %q", err, res, body)
	}
	notes := filepath.Join(t.TempDir(), "notes.txt")
	os.WriteFile(notes, []byte("x"), 0o644)
	if _, err := c.paved("push", notes, "--space", "arch", "--app", "web"); err == nil || !strings.Contains(err.Error(), "must be a directory, a .tar.gz or a .zip archive") {
		t.Fatalf("pushing a text file: %v", err)
	}
}
