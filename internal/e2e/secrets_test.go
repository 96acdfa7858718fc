package e2e

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// TestSecretsStayOut: the cell's own credentials never reach a build, and
// an app's secret_env never reaches its logs (API or files), its build
// log, the events or a read of the app, even when the app prints it.
func TestSecretsStayOut(t *testing.T) {
	const cellCredential = "cell-credential-0c9f2d"
	const appSecret = "s3cr3t-api-key-7b1e"
	// The cell inherits these from its environment, as a real one would.
	t.Setenv("PAVED_TOKEN", cellCredential)
	t.Setenv("CLOUD_SECRET_ACCESS_KEY", cellCredential)
	c := startCell(t)
	ctx := context.Background()
	// The build prints its whole environment into the build log.
	c.pushHello("shop", "web", "web.test", 1, "--build", "env; go build -o hello .")
	a, err := c.client.Apps.Get(ctx, "shop", "web")
	if err != nil {
		t.Fatal(err)
	}
	spec := a.AppSpec
	spec.SecretEnv = map[string]string{"API_KEY": appSecret}
	spec.Command = `echo "starting with key $API_KEY"; exec ./hello`
	if _, err := c.client.Apps.Update(ctx, "shop", spec); err != nil {
		t.Fatal(err)
	}
	if a, err = c.client.Apps.Wait(ctx, "shop", "web", nil); err != nil || a.Status != paved.AppRunning {
		t.Fatalf("rollout with the secret: %v %+v", err, a)
	}

	// The app printed the key: the log shows it redacted.
	var logged []string
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c.client.Logs.Stream(lctx, "shop", "web", paved.LogsOptions{Tail: 200}, func(l paved.LogLine) error {
		logged = append(logged, l.Text)
		return nil
	})
	all := strings.Join(logged, "\n")
	if !strings.Contains(all, "starting with key [redacted]") {
		t.Fatalf("the app's line with its key is not in the log, redacted:\n%s", all)
	}

	builds, err := c.client.Builds.List(ctx, "shop", "web")
	if err != nil || len(builds) == 0 {
		t.Fatalf("builds: %v %v", builds, err)
	}
	var buildLogs []string
	for _, b := range builds {
		log, err := c.client.Builds.Log(ctx, "shop", "web", b.ID)
		if err != nil {
			t.Fatal(err)
		}
		buildLogs = append(buildLogs, log)
	}
	buildLog := strings.Join(buildLogs, "\n")
	if !strings.Contains(buildLog, "PATH=") {
		t.Fatalf("the build log does not show the build's environment:\n%s", buildLog)
	}

	events, err := c.client.Events.List(ctx, paved.ListEventsOptions{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var evText strings.Builder
	for _, e := range events {
		fmt.Fprintf(&evText, "%+v\n", e)
	}
	read, err := c.client.Apps.Get(ctx, "shop", "web")
	if err != nil {
		t.Fatal(err)
	}
	files := logFiles(t, c.data)
	for what, text := range map[string]string{"app log": all, "build log": buildLog, "events": evText.String(),
		"app read": fmt.Sprintf("%+v", read), "log files on disk": files} {
		for _, secret := range []string{cellCredential, appSecret} {
			if strings.Contains(text, secret) {
				t.Errorf("%s contains a secret (%s)", what, secret)
			}
		}
	}
	if strings.Contains(buildLog, "CLOUD_SECRET_ACCESS_KEY") {
		t.Error("the build inherited the cell's CLOUD_SECRET_ACCESS_KEY")
	}

	// An update without secret_env keeps the secrets; an empty one
	// removes them (the library sends {} rather than leaving it out).
	if a, err = c.client.Apps.Get(ctx, "shop", "web"); err != nil {
		t.Fatal(err)
	}
	spec = a.AppSpec
	spec.SecretEnv = nil
	spec.Env = map[string]string{"ROUND": "2"}
	if _, err := c.client.Apps.Update(ctx, "shop", spec); err != nil {
		t.Fatal(err)
	}
	if a, err = c.client.Apps.Wait(ctx, "shop", "web", nil); err != nil || !slices.Equal(a.SecretEnvKeys, []string{"API_KEY"}) {
		t.Fatalf("after an update without secret_env: keys %v, want [API_KEY] kept (%v)", a.SecretEnvKeys, err)
	}
	spec = a.AppSpec
	spec.SecretEnv = map[string]string{}
	if _, err := c.client.Apps.Update(ctx, "shop", spec); err != nil {
		t.Fatal(err)
	}
	if a, err = c.client.Apps.Wait(ctx, "shop", "web", nil); err != nil || len(a.SecretEnvKeys) != 0 || a.Status != paved.AppRunning {
		t.Fatalf("after an update with an empty secret_env: keys %v, status %v, want none (%v)", a.SecretEnvKeys, a.Status, err)
	}
	if pids := processesWithEnv("API_KEY", appSecret); len(pids) > 0 {
		t.Errorf("instances still get the removed secret: %v", pids)
	}
}

// logFiles concatenates every *.log file under dir.
func logFiles(t *testing.T, dir string) string {
	var sb strings.Builder
	n := 0
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".log") {
			b, _ := os.ReadFile(path)
			sb.Write(b)
			n++
		}
		return nil
	})
	if n == 0 {
		t.Fatalf("no log files under %s", dir)
	}
	return sb.String()
}
