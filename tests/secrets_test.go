package tests

import (
	"archive/zip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gruntwork-io/terratest/modules/files"

	"github.com/pavedroad/terraform-provider-paved/internal/testkit/testcell"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

// secret makes a random secret that names what it is for, so a leak
// report says which one leaked.
func secret(t *testing.T, what string) string {
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return what + "-" + hex.EncodeToString(b)
}

// leakCheck collects, per place, whether any secret shows there.
type leakCheck struct {
	t       *testing.T
	secrets map[string]string // name → value
	places  int
}

// in fails the test, naming the place and the secret, when text holds a
// secret value.
func (l *leakCheck) in(place, text string) {
	l.t.Helper()
	l.places++
	for name, v := range l.secrets {
		if i := strings.Index(text, v); i >= 0 {
			l.t.Errorf("LEAK: %s holds the %s secret (at byte %d)", place, name, i)
		}
	}
}

// bigFile is the size from which a file is scanned in chunks rather than
// read whole (and not opened as a zip: a saved plan is far smaller).
const bigFile = 16 << 20

// file checks a file (every entry of it when it is a zip, as a saved plan is).
func (l *leakCheck) file(path string) {
	l.t.Helper()
	if info, err := os.Stat(path); err == nil && info.Size() >= bigFile {
		l.bigFile(path)
		return
	}
	data, err := os.ReadFile(path)
	if err != nil {
		l.t.Errorf("read %s: %v", path, err)
		return
	}
	l.in(path, string(data))
	if zr, err := zip.NewReader(strings.NewReader(string(data)), int64(len(data))); err == nil {
		for _, f := range zr.File {
			rc, err := f.Open()
			if err != nil {
				l.t.Errorf("%s!%s: open the zip entry: %v (not scanned)", path, f.Name, err)
				continue
			}
			b, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				l.t.Errorf("%s!%s: read the zip entry: %v (scanned %d bytes of it)", path, f.Name, err, len(b))
			}
			l.in(path+"!"+f.Name, string(b))
		}
	}
}

// bigFile checks a large file (a cell log that grew) in chunks that
// overlap by the longest secret, so none hides across a boundary.
func (l *leakCheck) bigFile(path string) {
	l.t.Helper()
	f, err := os.Open(path)
	if err != nil {
		l.t.Errorf("read %s: %v", path, err)
		return
	}
	defer f.Close()
	overlap := 0
	for _, v := range l.secrets {
		overlap = max(overlap, len(v)-1)
	}
	buf := make([]byte, 0, 1<<20+overlap)
	var off int64 // file offset of buf[0]
	l.places++
	for {
		n, err := io.ReadFull(f, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		for name, v := range l.secrets {
			if i := strings.Index(string(buf), v); i >= 0 {
				l.t.Errorf("LEAK: %s holds the %s secret (at byte %d)", path, name, off+int64(i))
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return
		}
		if err != nil {
			l.t.Errorf("read %s: %v (scanned %d bytes)", path, err, off+int64(len(buf)))
			return
		}
		keep := min(overlap, len(buf))
		off += int64(len(buf) - keep)
		buf = append(buf[:0], buf[len(buf)-keep:]...)
	}
}

// dir checks every file under dir but the cell's database, which holds
// the secret_env values the cell hands its instances (and webhook and
// token hashes only). What it cannot read fails the test; a file removed
// while the walk runs (the cells are still up) is gone, not skipped.
func (l *leakCheck) dir(dir string) {
	l.t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && path != dir {
			return nil
		}
		if err != nil {
			l.t.Errorf("walk %s: %v (not scanned)", path, err)
			return nil
		}
		if d.IsDir() || strings.HasPrefix(d.Name(), "paved.db") {
			return nil
		}
		info, err := d.Info()
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			l.t.Errorf("%s: %v (not scanned)", path, err)
		case info.Mode().IsRegular(): // links and sockets hold no bytes of their own
			l.file(path)
		}
		return nil
	})
	if err != nil {
		l.t.Errorf("walk %s: %v", dir, err)
	}
}

// get reads an API path of a cell with its admin token.
func get(t *testing.T, c *testcell.Cell, path string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.Endpoint+path, nil)
	req.Header.Set("Authorization", "Bearer "+c.Token)
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s on %s: %s %s", path, c.Region, resp.Status, body)
	}
	return string(body)
}

// TestSecretsNeverLeak applies every resource kind that takes a secret
// (paved_app and paved_replica_set secret_env, paved_pipeline webhook
// secrets, paved_token, and a paved_environment cloning an app with secret
// env) against two real cells, from ephemeral variables; checks that each
// secret took effect; and checks that no secret value appears in the
// state, the saved plan (file and JSON), tofu's output, the cells' logs
// and files, the apps' instance and build logs, the pipeline's build log,
// the events, or any read API.
func TestSecretsNeverLeak(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	one := testcell.StartWith(t, testcell.Options{Region: "one", Cloud: "aws"})
	two := testcell.StartWith(t, testcell.Options{Region: "two", Cloud: "gcp"})
	cells := []*testcell.Cell{one, two}

	work := t.TempDir()
	dir := filepath.Join(work, "secrets")
	if err := files.CopyFolderContents(filepath.Join(repoRoot(), "tests", "fixtures", "secrets"), dir); err != nil {
		t.Fatal(err)
	}
	repo := helloRepo(t)
	secrets := map[string]string{
		"app secret_env":         secret(t, "app-secret"),
		"replica set secret_env": secret(t, "replica-secret"),
		"pipeline webhook":       secret(t, "webhook-secret"),
		"token":                  secret(t, "token-secret"),
	}
	env := []string{
		"TF_CLI_CONFIG_FILE=" + cliConfig,
		"TF_IN_AUTOMATION=1",
		fmt.Sprintf(`TF_VAR_endpoints={one = %q, two = %q}`, one.Endpoint, two.Endpoint),
		"TF_VAR_token=" + one.Token,
		"TF_VAR_repository=" + repo,
		"TF_VAR_app_secret=" + secrets["app secret_env"],
		"TF_VAR_replica_secret=" + secrets["replica set secret_env"],
		"TF_VAR_webhook_secret=" + secrets["pipeline webhook"],
		"TF_VAR_token_secret=" + secrets["token"],
	}
	leaks := &leakCheck{t: t, secrets: secrets}
	destroyed := false
	t.Cleanup(func() {
		if !destroyed {
			cmd := exec.Command(tofuBin, "destroy", "-auto-approve", "-no-color")
			cmd.Dir, cmd.Env = dir, append(os.Environ(), env...)
			cmd.Run()
		}
	})

	leaks.in("tofu init output", tofu(t, dir, env, "init", "-no-color"))
	leaks.in("tofu apply output", tofu(t, dir, env, "apply", "-auto-approve", "-no-color"))
	leaks.in("tofu plan output", tofu(t, dir, env, "plan", "-no-color", "-detailed-exitcode", "-out=plan.bin"))
	leaks.in("tofu show -json (the saved plan)", tofu(t, dir, env, "show", "-json", "plan.bin"))
	leaks.in("tofu show -json (the state)", tofu(t, dir, env, "show", "-json"))
	leaks.file(filepath.Join(dir, "plan.bin"))
	leaks.file(filepath.Join(dir, "terraform.tfstate"))
	if _, err := os.Stat(filepath.Join(dir, "terraform.tfstate.backup")); err == nil {
		leaks.file(filepath.Join(dir, "terraform.tfstate.backup"))
	}

	// The secrets took effect.
	sum := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	eventually(t, time.Minute, "the app answers with its secret's hash", func() error {
		return httpContains(one.RouterAddr, "web.secrets.test", "/", "set=true sha256="+sum(secrets["app secret_env"]))
	})
	for _, c := range cells {
		eventually(t, time.Minute, "the replica set answers in "+c.Region+" with its secret's hash", func() error {
			return httpContains(c.RouterAddr, "rs.secrets.test", "/", "set=true sha256="+sum(secrets["replica set secret_env"]))
		})
	}
	if err := one.Client.Pipelines.Webhook(ctx, "secrets", "ci", "repo", secrets["pipeline webhook"]); err != nil {
		t.Errorf("the webhook refuses its secret: %v", err)
	}
	if err := one.Client.Pipelines.Webhook(ctx, "secrets", "ci", "repo", secrets["pipeline webhook"]+"x"); !errors.Is(err, paved.ErrUnauthorized) {
		t.Errorf("the webhook with a wrong secret: %v, want unauthorized", err)
	}
	tc, err := paved.NewClient(paved.Config{Endpoint: one.Endpoint, Token: secrets["token"], MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tc.Spaces.Get(ctx, "secrets"); err != nil {
		t.Errorf("the token does not authenticate: %v", err)
	}

	// The pipeline's build (it prints the task's environment) finished.
	var build paved.JobBuild
	eventually(t, 2*time.Minute, "the pipeline's env job finished", func() error {
		bs, err := one.Client.Pipelines.Builds(ctx, "secrets", "ci", "env")
		if err != nil || len(bs) == 0 || bs[0].FinishedAt == nil {
			return fmt.Errorf("not yet (%v)", err)
		}
		build = bs[0]
		return nil
	})
	log, err := one.Client.Pipelines.BuildLog(ctx, build.ID)
	if err != nil || !strings.Contains(log, "PATH=") {
		t.Errorf("the pipeline's build log (%v) does not show the task's environment:\n%s", err, log)
	}
	leaks.in(fmt.Sprintf("pipeline build log (#%d %s)", build.Number, build.Status), log)

	// Instance and build logs of every app (the app prints its secret: the
	// cell must have redacted it).
	apps := map[*testcell.Cell][][2]string{one: {{"secrets", "web"}, {"secrets-rs", "rs"}, {"secrets-preview", "web"}}, two: {{"secrets-rs", "rs"}}}
	for c, list := range apps {
		for _, a := range list {
			where := fmt.Sprintf("%s/%s in %s", a[0], a[1], c.Region)
			var lines strings.Builder
			eventually(t, 30*time.Second, "the instance log of "+where+" shows the redacted secret", func() error {
				lines.Reset()
				err := c.Client.Logs.Stream(ctx, a[0], a[1], paved.LogsOptions{Tail: 1000}, func(l paved.LogLine) error {
					lines.WriteString(l.Text + "\n")
					return nil
				})
				if err == nil && !strings.Contains(lines.String(), "APP_SECRET=[redacted]") {
					err = fmt.Errorf("no redacted line yet:\n%s", lines.String())
				}
				return err
			})
			leaks.in("instance log of "+where, lines.String())
			bs, err := c.Client.Builds.List(ctx, a[0], a[1])
			if err != nil {
				t.Errorf("builds of %s: %v", where, err)
			}
			for _, b := range bs {
				blog, err := c.Client.Builds.Log(ctx, a[0], a[1], b.ID)
				if err != nil {
					t.Errorf("build log %d of %s: %v", b.ID, where, err)
				}
				leaks.in(fmt.Sprintf("build log %d of %s", b.ID, where), blog)
			}
		}
	}

	// Events and read APIs of both cells.
	for _, c := range cells {
		for _, path := range []string{
			"/v1/events?limit=10000", "/v1/spaces", "/v1/apps", "/v1/replica-sets", "/v1/environments", "/v1/tokens",
			"/v1/spaces/secrets-rs/apps/rs", "/v1/spaces/secrets-rs/apps/rs/releases",
		} {
			leaks.in("GET "+path+" on "+c.Region, get(t, c, path))
		}
	}
	for _, path := range []string{
		"/v1/spaces/secrets/apps/web", "/v1/spaces/secrets/apps/web/releases", "/v1/spaces/secrets/pipelines",
		"/v1/spaces/secrets/pipelines/ci", "/v1/environments/secrets-preview", "/v1/spaces/secrets-preview/apps/web",
		"/v1/spaces/secrets/snapshots", "/v1/spaces/secrets/apps/web/deployments", "/v1/spaces/secrets/pipelines/ci/builds",
	} {
		leaks.in("GET "+path+" on one", get(t, one, path))
	}
	p, err := one.Client.Pipelines.Get(ctx, "secrets", "ci")
	if err != nil || p.Webhooks["repo"].Path == "" || p.Webhooks["repo"].Token != "" {
		t.Errorf("the pipeline's webhooks: %+v %v", p, err)
	}

	// Destroy, then the cells' own logs and files.
	leaks.in("tofu destroy output", tofu(t, dir, env, "destroy", "-auto-approve", "-no-color"))
	destroyed = true
	leaks.file(filepath.Join(dir, "terraform.tfstate"))
	for _, c := range cells {
		leaks.dir(filepath.Dir(c.LogPath))
		eventually(t, 30*time.Second, "nothing runs on "+c.Region+" after destroy", func() error { return cellIsEmpty(ctx, c) })
	}
	t.Logf("checked %d places for the %d secrets", leaks.places, len(secrets))
}
