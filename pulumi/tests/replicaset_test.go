package tests

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optrefresh"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/pavedroad/terraform-provider-paved/internal/testkit/testcell"
	"github.com/pavedroad/terraform-provider-paved/paved"
	pv "github.com/pavedroad/terraform-provider-paved/pulumi/sdk/go/paved"
)

const (
	replicaSetType = "paved:index:ReplicaSet"
	replicaSecret  = "replica-s3cret-never-in-outputs"
	replicaSecret2 = "replica-s3cret-2-never-in-outputs"
)

// TestPulumiReplicaSet: a replica set over two regions (two real cells,
// named in the provider's regions config) serves its global host from
// both routers, its app in both with the secretEnv of the program (the
// fixture app answers with the sha256 of APP_SECRET), which is in no
// output and only encrypted in the state; an unchanged program previews
// nothing, a new secret value is an update of secretEnv that reaches both
// regions, a refresh keeps it; destroy removes the set from both.
func TestPulumiReplicaSet(t *testing.T) {
	eu := testcell.StartWith(t, testcell.Options{Region: "eu"})
	us := testcell.StartWith(t, testcell.Options{Region: "us"})
	src := filepath.Join(moduleRoot(), "..", "tests", "fixtures", "secrets", "app")
	const global = "hello.global.example.test"
	appSecret := replicaSecret
	program := func(ctx *pulumi.Context) error {
		rs, err := pv.NewReplicaSet(ctx, "hello", &pv.ReplicaSetArgs{
			Name:       pulumi.String("hello"),
			Regions:    pulumi.StringArray{pulumi.String("eu"), pulumi.String("us")},
			Space:      pulumi.String("shop"),
			GlobalHost: pulumi.String(global),
			Rollout:    pulumi.String("parallel"),
			App: pv.ReplicaSetAppArgs{
				Name: pulumi.String("hello"), Source: pulumi.String(src), Build: pulumi.String("go build -o app ."),
				Command: pulumi.String("./app"), Instances: pulumi.Int(1),
				HealthCheck: &pv.HealthCheckArgs{
					Type: pulumi.String("http"), Path: pulumi.String("/healthz"), Interval: pulumi.String("500ms"),
				},
			},
			SecretEnv: pulumi.StringMap{"APP_SECRET": pulumi.String(appSecret)},
		})
		if err != nil {
			return err
		}
		ctx.Export("regionsStatus", rs.RegionsStatus)
		ctx.Export("app", rs.App)
		return nil
	}
	s := newStack(t, "regions", eu.Endpoint, eu.Token, program)
	ctx := context.Background()
	regions, _ := json.Marshal(map[string]map[string]string{
		"eu": {"endpoint": eu.Endpoint, "token": eu.Token},
		"us": {"endpoint": us.Endpoint, "token": us.Token},
	})
	if err := s.SetConfig(ctx, "paved:regions", auto.ConfigValue{Value: string(regions), Secret: true}); err != nil {
		t.Fatal(err)
	}
	destroyed := false
	t.Cleanup(func() {
		if !destroyed {
			s.Destroy(ctx)
		}
	})

	start := time.Now()
	up, err := s.Up(ctx, optup.ProgressStreams(s.log()))
	if err != nil {
		t.Fatalf("up: %v", err)
	}
	t.Logf("up (two regions) took %s", time.Since(start).Round(time.Millisecond))
	status, _ := up.Outputs["regionsStatus"].Value.(map[string]any)
	for _, region := range []string{"eu", "us"} {
		if r, _ := status[region].(map[string]any); r["status"] != "ready" {
			t.Errorf("region %s: %v", region, status[region])
		}
	}
	// Both regions serve the app, each with the secret.
	for _, c := range []*testcell.Cell{eu, us} {
		answersWithSecret(t, c, global, replicaSecret)
		a, err := c.Client.Apps.Get(ctx, "shop", "hello")
		if err != nil || !slices.Equal(a.SecretEnvKeys, []string{"APP_SECRET"}) {
			t.Errorf("the app in %s: %+v, %v; want the secret APP_SECRET", c.Region, a, err)
		}
	}
	// The secret is in no output: not the stack's, not the replica set's.
	if b, _ := json.Marshal(up.Outputs); strings.Contains(string(b), replicaSecret) || strings.Contains(string(b), "APP_SECRET") {
		t.Errorf("the stack's outputs hold the secret: %s", b)
	}
	noSecretInOutputs(t, s, replicaSetType, replicaSecret)
	if pre := previewOf(t, s); len(pre.changes()) != 0 {
		t.Errorf("an unchanged program previews changes: %v", pre.changes())
	}

	// A new secret value is an in-place update of secretEnv (compared with
	// the recorded inputs: it is in no output) and reaches both regions.
	appSecret = replicaSecret2
	if st := previewOf(t, s).steps.of(replicaSetType); len(st) != 1 || st[0].Op != apitype.OpUpdate || !slices.Equal(st[0].Diffs, []string{"secretEnv"}) {
		t.Errorf("a new secret value previews %+v, want an update of secretEnv", st)
	}
	start = time.Now()
	up, err = s.Up(ctx, optup.ProgressStreams(s.log()))
	if err != nil {
		t.Fatalf("up (new secret): %v", err)
	}
	t.Logf("up (new secret, two regions) took %s", time.Since(start).Round(time.Millisecond))
	if got := changesOf(up.Summary); got["update"] != 1 || got["replace"] != 0 {
		t.Errorf("up with a new secret: %v, want one update", got)
	}
	for _, c := range []*testcell.Cell{eu, us} {
		answersWithSecret(t, c, global, replicaSecret2)
	}
	if b, _ := json.Marshal(up.Outputs); strings.Contains(string(b), replicaSecret2) {
		t.Errorf("the stack's outputs hold the new secret: %s", b)
	}
	noSecretInOutputs(t, s, replicaSetType, replicaSecret2)

	// A refresh keeps the recorded secret input: still no changes after it.
	if _, err := s.Refresh(ctx, optrefresh.ProgressStreams(s.log())); err != nil {
		t.Fatalf("refresh: %v", err)
	}
	noSecretInOutputs(t, s, replicaSetType, replicaSecret2)
	if pre := previewOf(t, s); len(pre.changes()) != 0 {
		t.Errorf("after a refresh an unchanged program previews changes: %v", pre.changes())
	}

	if _, err := s.Destroy(ctx, optdestroy.ProgressStreams(s.log())); err != nil {
		t.Fatalf("destroy: %v", err)
	}
	destroyed = true
	for _, c := range []*testcell.Cell{eu, us} {
		apps, err := c.Client.Apps.List(ctx, paved.ListAppsOptions{})
		recs, err2 := c.Client.ReplicaSets.List(ctx)
		if err != nil || err2 != nil || len(apps) != 0 || len(recs) != 0 {
			t.Errorf("after destroy %s has apps %v and replica sets %v (%v, %v)", c.Region, apps, recs, err, err2)
		}
	}
}

// answersWithSecret waits until c's router serves the global host from
// c's region with the fixture app's answer for secret: its sha256.
func answersWithSecret(t *testing.T, c *testcell.Cell, global, secret string) {
	t.Helper()
	want := fmt.Sprintf("secret set=true sha256=%x", sha256.Sum256([]byte(secret)))
	deadline := time.Now().Add(30 * time.Second)
	var code int
	var region, body string
	var err error
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+c.RouterAddr+"/", nil)
		req.Host = global
		var resp *http.Response
		if resp, err = (&http.Client{Timeout: 5 * time.Second}).Do(req); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			code, region, body = resp.StatusCode, resp.Header.Get("X-Paved-Region"), string(b)
			if code == 200 && region == c.Region && strings.Contains(body, want) {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("GET %s via %s's router: %d from region %q: %q %v; want %q", global, c.Region, code, region, body, err, want)
}
