package tests

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optrefresh"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/pavedroad/terraform-provider-paved/internal/testkit/testcell"
	"github.com/pavedroad/terraform-provider-paved/paved"
	pv "github.com/pavedroad/terraform-provider-paved/pulumi/sdk/go/paved"
)

const (
	appType  = "paved:index:App"
	host     = "web.shop.example.test"
	secret   = "s3cret-value-never-in-outputs"
	greeting = "hello from paved"
)

// TestPulumiApp is issue 8's acceptance: a Pulumi Go program (an inline
// Automation API program using the generated SDK) against a real cell,
// with the real CLI and a local backend.
func TestPulumiApp(t *testing.T) {
	c := testcell.Start(t)
	src := copyDir(t, filepath.Join(moduleRoot(), "..", "examples", "hello"))
	env := pulumi.StringMap{"MODE": pulumi.String("test")}
	preview := false // a preview environment of the space, when true
	apiKey := secret
	program := func(ctx *pulumi.Context) error {
		space, err := pv.NewSpace(ctx, "shop", &pv.SpaceArgs{Name: pulumi.String("shop")})
		if err != nil {
			return err
		}
		app, err := pv.NewApp(ctx, "web", &pv.AppArgs{
			Space:     space.Name,
			Name:      pulumi.String("web"),
			Source:    pulumi.String(src),
			Build:     pulumi.String("go build -o hello ."),
			Command:   pulumi.String("./hello"),
			Instances: pulumi.Int(2),
			Env:       env,
			SecretEnv: pulumi.StringMap{"API_KEY": pulumi.String(apiKey)},
			Routes:    pulumi.StringArray{pulumi.String(host)},
			HealthCheck: &pv.HealthCheckArgs{
				Type: pulumi.String("http"), Path: pulumi.String("/healthz"), Interval: pulumi.String("500ms"),
			},
			Deployment: &pv.DeploymentArgs{
				Strategy:         pulumi.String("canary"),
				ProgressDeadline: pulumi.String("1m"),
				Canary: &pv.CanaryArgs{
					Steps: pulumi.IntArray{pulumi.Int(50)}, Watch: pulumi.String("2s"),
					MaxErrorRate: pulumi.Float64(0.05), MinRequests: pulumi.Int(10),
				},
			},
		})
		if err != nil {
			return err
		}
		ctx.Export("release", app.Release)
		ctx.Export("status", app.Status)
		ctx.Export("urls", app.Urls)
		ctx.Export("sourceHash", app.SourceHash)
		ctx.Export("instances", app.Instances)
		if preview {
			pr, err := pv.NewEnvironment(ctx, "pr-1", &pv.EnvironmentArgs{
				Name: pulumi.String("pr-1"), FromSpace: space.Name, Ttl: pulumi.String("1h"),
				Overrides: pv.AppOverrideMap{"web": pv.AppOverrideArgs{Instances: pulumi.Int(1)}},
			}, pulumi.DependsOn([]pulumi.Resource{app}))
			if err != nil {
				return err
			}
			ctx.Export("previewUrls", pr.Urls)
		}
		return nil
	}
	s := newStack(t, "acc", c.Endpoint, c.Token, program)
	ctx := context.Background()
	destroyed := false
	t.Cleanup(func() {
		if !destroyed {
			s.Destroy(ctx)
		}
	})

	// A preview of the new stack plans the space and the app (the app's
	// space is not known yet: Check lets it pass).
	if pre := previewOf(t, s); pre.summary[apitype.OpCreate] != 3 || len(pre.changes()) != 1 {
		t.Errorf("the first preview plans %v, want 3 creates", pre.summary)
	}
	if h, _ := c.Client.Health(ctx); h == nil || h.Counts.Apps != 0 || h.Counts.Spaces != 0 {
		t.Errorf("a preview changed the cell: %+v", h)
	}

	// up: the space and the app are created, the app answers through the router.
	start := time.Now()
	stop := loadWhile(c.RouterAddr, host)
	up, err := s.Up(ctx, optup.ProgressStreams(s.log()))
	stop()
	if err != nil {
		t.Fatalf("up: %v", err)
	}
	t.Logf("up (create) took %s", time.Since(start).Round(time.Millisecond))
	if got := changesOf(up.Summary); got["create"] != 3 { // the stack, the space, the app
		t.Errorf("up created %v, want the stack, the space and the app", got)
	}
	release1 := outputInt(t, up.Outputs, "release")
	if release1 != 1 || up.Outputs["status"].Value != "running" {
		t.Errorf("after up: release %d, status %v; want 1, running", release1, up.Outputs["status"].Value)
	}
	if urls := up.Outputs["urls"].Value.([]any); len(urls) != 1 || urls[0] != "http://"+host+"/" {
		t.Errorf("urls = %v", urls)
	}
	hash1, _ := up.Outputs["sourceHash"].Value.(string)
	if _, digest, _ := paved.Archive(src); hash1 != digest {
		t.Errorf("sourceHash = %q, want the digest of the packed source %q", hash1, digest)
	}
	answers(t, c.RouterAddr, greeting)
	a, err := c.Client.Apps.Get(ctx, "shop", "web")
	if err != nil || a.Instances != 2 || a.RunningCount != 2 || !slices.Equal(a.SecretEnvKeys, []string{"API_KEY"}) {
		t.Fatalf("the cell's app after up: %+v, %v", a, err)
	}
	noSecretInOutputs(t, s, appType, secret)
	ourPluginOnly(t, s)

	// An unchanged program previews no changes.
	start = time.Now()
	pre := previewOf(t, s)
	t.Logf("preview (unchanged) took %s", time.Since(start).Round(time.Millisecond))
	if changes := pre.changes(); len(changes) != 0 {
		t.Errorf("an unchanged program previews changes: %v", changes)
	}

	// A source change previews as an update of source (not a replace) and
	// up rolls it out with the canary: the response changes.
	main := filepath.Join(src, "main.go")
	b, _ := os.ReadFile(main)
	if err := os.WriteFile(main, []byte(strings.Replace(string(b), `"hello from paved"`, `"hello v2 from paved"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	pre = previewOf(t, s)
	if got := pre.summary; got[apitype.OpUpdate] != 1 || got[apitype.OpReplace] != 0 || got[apitype.OpCreateReplacement] != 0 {
		t.Errorf("a source change previews %v, want one update", got)
	}
	if st := pre.steps.of(appType); len(st) != 1 || st[0].Op != apitype.OpUpdate || !slices.Contains(st[0].Diffs, "source") {
		t.Errorf("the app's preview step: %+v, want an update of source", st)
	}
	start = time.Now()
	stop = loadWhile(c.RouterAddr, host)
	up, err = s.Up(ctx, optup.ProgressStreams(s.log()))
	stop()
	if err != nil {
		t.Fatalf("up (source change): %v", err)
	}
	t.Logf("up (source change, canary) took %s", time.Since(start).Round(time.Millisecond))
	if got := changesOf(up.Summary); got["update"] != 1 || got["replace"] != 0 {
		t.Errorf("up after a source change: %v, want one update", got)
	}
	if r := outputInt(t, up.Outputs, "release"); r != release1+1 {
		t.Errorf("release after the source change = %d, want %d", r, release1+1)
	}
	if h, _ := up.Outputs["sourceHash"].Value.(string); h == hash1 || h == "" {
		t.Errorf("sourceHash did not change: %q", h)
	}
	answers(t, c.RouterAddr, "hello v2 from paved")
	deps, err := c.Client.Deployments.List(ctx, "shop", "web")
	if i := slices.IndexFunc(deps, func(d paved.Deployment) bool { return d.Release == release1+1 }); err != nil || i < 0 ||
		deps[i].Strategy.Strategy != paved.StrategyCanary || deps[i].Status != paved.DeploymentSucceeded {
		t.Errorf("the source change was not rolled out by a successful canary: %+v, %v", deps, err)
	}
	if pre := previewOf(t, s); len(pre.changes()) != 0 {
		t.Errorf("after the rollout the preview shows changes: %v", pre.changes())
	}

	// A preview environment clones the space at its last good release,
	// and leaves with everything in it when the program drops it.
	preview = true
	up, err = s.Up(ctx, optup.ProgressStreams(s.log()))
	if err != nil {
		t.Fatalf("up (environment): %v", err)
	}
	urls, _ := up.Outputs["previewUrls"].Value.(map[string]any)
	if urls["web"] != "http://pr-1."+host+"/" {
		t.Errorf("the environment's urls = %v", urls)
	}
	answersAt(t, c.RouterAddr, "pr-1."+host, "hello v2 from paved")
	if pre := previewOf(t, s); len(pre.changes()) != 0 {
		t.Errorf("with the environment an unchanged program previews changes: %v", pre.changes())
	}
	preview = false
	if _, err = s.Up(ctx, optup.ProgressStreams(s.log())); err != nil {
		t.Fatalf("up (without the environment): %v", err)
	}
	if envs, err := c.Client.Environments.List(ctx); err != nil || len(envs) != 0 {
		t.Errorf("the environment is still there: %+v, %v", envs, err)
	}

	// A new secret value is an update of secretEnv (compared with the
	// recorded inputs: it is in no output).
	apiKey = "another-secret"
	if st := previewOf(t, s).steps.of(appType); len(st) != 1 || st[0].Op != apitype.OpUpdate || !slices.Equal(st[0].Diffs, []string{"secretEnv"}) {
		t.Errorf("a new secret value previews %+v, want an update of secretEnv", st)
	}
	apiKey = secret

	// An outside scale is drift: refresh records it, and the next preview
	// plans to bring instances back.
	a, err = c.Client.Apps.Get(ctx, "shop", "web")
	if err != nil {
		t.Fatal(err)
	}
	spec := a.AppSpec
	spec.Instances = 3
	spec.SecretEnv = nil // keep the cell's secrets
	if _, err := c.Client.Apps.Update(ctx, "shop", spec); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Client.Apps.Wait(ctx, "shop", "web", nil); err != nil {
		t.Fatal(err)
	}
	refreshSteps := collectSteps()
	ref, err := s.Refresh(ctx, optrefresh.ProgressStreams(s.log()), optrefresh.EventStreams(refreshSteps.ch))
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if got := changesOf(ref.Summary); got["update"] != 1 {
		t.Errorf("refresh after an outside scale: %v, want one update (the app)", got)
	}
	if st := refreshSteps.outcomes(appType); len(st) != 1 || !slices.Contains(st[0].Diffs, "instances") {
		t.Errorf("the app's refresh step: %+v, want a diff of instances", st)
	}
	if n := stateInstances(t, s); n != 3 {
		t.Errorf("instances in the state after refresh = %d, want 3", n)
	}
	pre = previewOf(t, s)
	if st := pre.steps.of(appType); len(st) != 1 || st[0].Op != apitype.OpUpdate || !slices.Equal(st[0].Diffs, []string{"instances"}) {
		t.Errorf("the preview after the drift: %+v, want an update of instances", st)
	}

	// up brings the app back to the program's instances, in place.
	if _, err := s.Up(ctx, optup.ProgressStreams(s.log())); err != nil {
		t.Fatalf("up after the drift: %v", err)
	}
	if a, err := c.Client.Apps.Get(ctx, "shop", "web"); err != nil || a.Instances != 2 || a.Release != release1+1 {
		t.Errorf("after up the app has %d instances at release %d (%v), want 2 at %d", a.Instances, a.Release, err, release1+1)
	}

	// A rollout that fails its canary rolls back by itself and fails the
	// update with the reason; the app keeps serving its last good release
	// and the change stays pending.
	env["FAIL_EVERY"] = pulumi.String("2")
	start = time.Now()
	stop = loadWhile(c.RouterAddr, host)
	_, err = s.Up(ctx, optup.ProgressStreams(s.log()))
	stop()
	t.Logf("up (failing canary) took %s", time.Since(start).Round(time.Millisecond))
	if err == nil {
		t.Fatal("up with a failing canary succeeded")
	}
	if i := strings.Index(err.Error(), "rollout of shop/web was rolled back"); i < 0 {
		t.Errorf("the failed update does not say why: %v", err)
	} else {
		t.Logf("the failed update says: %s", strings.SplitN(err.Error()[i:], "\n", 2)[0])
	}
	a, err = c.Client.Apps.Get(ctx, "shop", "web")
	if err != nil || a.Release != release1+1 || a.LastGoodRelease != release1+1 {
		t.Errorf("after the failed canary: %+v, %v; want release %d serving", a, err, release1+1)
	}
	answers(t, c.RouterAddr, "hello v2 from paved")
	if st := previewOf(t, s).steps.of(appType); len(st) != 1 || st[0].Op != apitype.OpUpdate || !slices.Contains(st[0].Diffs, "env") {
		t.Errorf("after the failed rollout the change is not pending: %+v", st)
	}

	// destroy leaves nothing in the cell.
	start = time.Now()
	if _, err := s.Destroy(ctx, optdestroy.ProgressStreams(s.log())); err != nil {
		t.Fatalf("destroy: %v", err)
	}
	destroyed = true
	t.Logf("destroy took %s", time.Since(start).Round(time.Millisecond))
	h, err := c.Client.Health(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if h.Counts.Apps != 0 || h.Counts.Spaces != 0 || h.Counts.Instances != 0 {
		t.Errorf("after destroy the cell still has %d spaces, %d apps, %d instances", h.Counts.Spaces, h.Counts.Apps, h.Counts.Instances)
	}
}

// answers waits until the router serves want for the app's host.
func answers(t *testing.T, routerAddr, want string) {
	t.Helper()
	answersAt(t, routerAddr, host, want)
}

// answersAt waits until the router serves want for host.
func answersAt(t *testing.T, routerAddr, host, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var code int
	var body string
	var err error
	for time.Now().Before(deadline) {
		if code, body, err = get(routerAddr, host); err == nil && code == 200 && strings.Contains(body, want) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("GET http://%s/ (Host %s): %d %q %v; want %q", routerAddr, host, code, body, err, want)
}

type previewResult struct {
	summary map[apitype.OpType]int
	steps   *steps
}

// changes lists the operations that are not "same".
func (p previewResult) changes() map[apitype.OpType]int {
	out := map[apitype.OpType]int{}
	for op, n := range p.summary {
		if op != apitype.OpSame && n > 0 {
			out[op] = n
		}
	}
	return out
}

func previewOf(t *testing.T, s *stack) previewResult {
	t.Helper()
	st := collectSteps()
	res, err := s.Preview(context.Background(), optpreview.ProgressStreams(s.log()), optpreview.EventStreams(st.ch), optpreview.Diff())
	if err != nil {
		t.Fatalf("preview: %v", err)
	}
	return previewResult{summary: res.ChangeSummary, steps: st}
}

func outputInt(t *testing.T, outputs auto.OutputMap, key string) int {
	t.Helper()
	n, ok := outputs[key].Value.(float64)
	if !ok {
		t.Fatalf("output %s = %#v, want a number", key, outputs[key].Value)
	}
	return int(n)
}

func changesOf(s auto.UpdateSummary) map[string]int {
	if s.ResourceChanges == nil {
		return nil
	}
	return *s.ResourceChanges
}

// deployment is the stack's state.
func deployment(t *testing.T, s *stack) apitype.DeploymentV3 {
	t.Helper()
	exp, err := s.Export(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var d apitype.DeploymentV3
	if err := json.Unmarshal(exp.Deployment, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

// noSecretInOutputs: the secret is not in the outputs of the resources
// of type typ, their secretEnv input is recorded as a Pulumi secret, and
// no file of the backend holds the secret in plain text.
func noSecretInOutputs(t *testing.T, s *stack, typ, secret string) {
	t.Helper()
	found := false
	for _, r := range deployment(t, s).Resources { // exported with --show-secrets
		if string(r.Type) != typ {
			continue
		}
		found = true
		if _, ok := r.Outputs["secretEnv"]; ok {
			t.Errorf("the outputs of %s hold secretEnv: %v", r.URN, r.Outputs["secretEnv"])
		}
		if b, _ := json.Marshal(r.Outputs); strings.Contains(string(b), secret) {
			t.Errorf("the outputs of %s hold the secret: %s", r.URN, b)
		}
		in, _ := r.Inputs["secretEnv"].(map[string]any)
		if in[secretSig] != secretSigValue {
			t.Errorf("the secretEnv input of %s is not a secret: %v", r.URN, r.Inputs["secretEnv"])
		}
	}
	if !found {
		t.Errorf("no %s in the state", typ)
	}
	backend := strings.TrimPrefix(s.Workspace().GetEnvVars()["PULUMI_BACKEND_URL"], "file://")
	files := 0
	filepath.WalkDir(backend, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		if b, _ := os.ReadFile(path); strings.Contains(string(b), secret) {
			t.Errorf("%s holds the secret in plain text", path)
		}
		return nil
	})
	if files == 0 {
		t.Errorf("no state files under %s", backend)
	}
}

// The signature of a secret in Pulumi's serialized state.
const (
	secretSig      = "4dabf18193072939515e22adb298388d"
	secretSigValue = "1b47061264138c4ac30d75fd1eb44270"
)

// ourPluginOnly: the engine ran the plugin built by the test (from PATH),
// at the schema's version, and installed nothing into its plugin cache.
func ourPluginOnly(t *testing.T, s *stack) {
	t.Helper()
	found := false
	for _, r := range deployment(t, s).Resources {
		if string(r.Type) == "pulumi:providers:paved" {
			found = true
			if v := r.Inputs["version"]; v != "0.1.0" {
				t.Errorf("the paved provider's version is %v, want 0.1.0 (the schema's)", v)
			}
		}
	}
	if !found {
		t.Error("no paved provider in the state")
	}
	home := s.Workspace().GetEnvVars()["PULUMI_HOME"]
	entries, _ := os.ReadDir(filepath.Join(home, "plugins"))
	for _, e := range entries {
		if strings.Contains(e.Name(), "paved") {
			t.Errorf("the engine installed a paved plugin into %s: %s", home, e.Name())
		}
	}
}

// stateInstances is the app's instances output in the state.
func stateInstances(t *testing.T, s *stack) int {
	t.Helper()
	for _, r := range deployment(t, s).Resources {
		if string(r.Type) == appType {
			if n, ok := r.Outputs["instances"].(float64); ok {
				return int(n)
			}
		}
	}
	t.Fatal("no app in the state")
	return 0
}
