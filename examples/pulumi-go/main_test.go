package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"

	"github.com/pavedroad/terraform-provider-paved/internal/testkit/testcell"
)

// TestExample runs Program, as `pulumi up` would, as an inline program
// with the real Pulumi CLI ($PULUMI_CLI) and the plugin ($PULUMI_PLUGIN_DIR
// first on PATH) against a real cell: `make pulumi-test` sets both.
func TestExample(t *testing.T) {
	cli, pluginDir := os.Getenv("PULUMI_CLI"), os.Getenv("PULUMI_PLUGIN_DIR")
	if cli == "" || pluginDir == "" {
		if os.Getenv("PAVED_PULUMI_REQUIRED") != "" {
			t.Fatal("set PULUMI_CLI and PULUMI_PLUGIN_DIR (make pulumi-test does)")
		}
		t.Skip("set PULUMI_CLI and PULUMI_PLUGIN_DIR to run the example (make pulumi-test does)")
	}
	c := testcell.Start(t)
	dir := t.TempDir()
	root := filepath.Join(dir, "cli", "bin")
	os.MkdirAll(root, 0o755)
	if err := os.Symlink(cli, filepath.Join(root, "pulumi")); err != nil {
		t.Fatal(err)
	}
	cmd, err := auto.NewPulumiCommand(&auto.PulumiCommandOptions{Root: filepath.Dir(root), SkipVersionCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"state", "home", "work"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	env := map[string]string{
		"PULUMI_BACKEND_URL":                          "file://" + filepath.Join(dir, "state"),
		"PULUMI_HOME":                                 filepath.Join(dir, "home"),
		"PULUMI_CONFIG_PASSPHRASE":                    "test",
		"PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK":    "true",
		"PULUMI_SKIP_UPDATE_CHECK":                    "true",
		"PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
		"PATH": pluginDir + string(os.PathListSeparator) + os.Getenv("PATH"),
	}
	ctx := context.Background()
	s, err := auto.UpsertStackInlineSource(ctx, "example", "paved-hello", Program, auto.Pulumi(cmd), auto.EnvVars(env),
		auto.WorkDir(filepath.Join(dir, "work")))
	if err != nil {
		t.Fatal(err)
	}
	source, _ := filepath.Abs(filepath.Join("..", "hello"))
	for key, v := range map[string]auto.ConfigValue{
		"paved:endpoint":     {Value: c.Endpoint},
		"paved:token":        {Value: c.Token, Secret: true},
		"paved-hello:source": {Value: source},
		"paved-hello:host":   {Value: "hello.shop.example.test"},
		"paved-hello:apiKey": {Value: "example-secret", Secret: true},
	} {
		if err := s.SetConfig(ctx, key, v); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { s.Destroy(ctx) })

	up, err := s.Up(ctx, optup.ProgressStreams(io.Discard))
	if err != nil {
		t.Fatalf("up: %v", err)
	}
	if up.Outputs["status"].Value != "running" {
		t.Errorf("status = %v", up.Outputs["status"].Value)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+c.RouterAddr+"/", nil)
	req.Host = "hello.shop.example.test"
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "hello from Pulumi") {
		t.Errorf("GET / through the router: %d %q", resp.StatusCode, body)
	}
	a, err := c.Client.Apps.Get(ctx, "shop", "hello")
	if err != nil || a.Deployment == nil || a.Deployment.Strategy != "canary" || len(a.SecretEnvKeys) != 1 {
		t.Errorf("the cell's app: %+v, %v", a, err)
	}
	pre, err := s.Preview(ctx, optpreview.ProgressStreams(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	for op, n := range pre.ChangeSummary {
		if op != "same" && n > 0 {
			t.Errorf("an unchanged program previews %d %s", n, op)
		}
	}
	if _, err := s.Destroy(ctx); err != nil {
		t.Fatalf("destroy: %v", err)
	}
	if h, err := c.Client.Health(ctx); err != nil || h.Counts.Apps != 0 || h.Counts.Spaces != 0 {
		t.Errorf("after destroy: %+v, %v", h, err)
	}
}
