package tests

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/pavedroad/terraform-provider-paved/internal/testcell"
	"github.com/pavedroad/terraform-provider-paved/paved"
	pv "github.com/pavedroad/terraform-provider-paved/pulumi/sdk/go/paved"
)

// TestPulumiReplicaSet: a replica set over two regions (two real cells,
// named in the provider's regions config) serves its global host from
// both routers; an unchanged program previews nothing; destroy removes it
// from both.
func TestPulumiReplicaSet(t *testing.T) {
	eu := testcell.StartWith(t, testcell.Options{Region: "eu"})
	us := testcell.StartWith(t, testcell.Options{Region: "us"})
	src := filepath.Join(moduleRoot(), "..", "examples", "hello")
	const global = "hello.global.example.test"
	program := func(ctx *pulumi.Context) error {
		rs, err := pv.NewReplicaSet(ctx, "hello", &pv.ReplicaSetArgs{
			Name:       pulumi.String("hello"),
			Regions:    pulumi.StringArray{pulumi.String("eu"), pulumi.String("us")},
			Space:      pulumi.String("shop"),
			GlobalHost: pulumi.String(global),
			Rollout:    pulumi.String("parallel"),
			App: pv.ReplicaSetAppArgs{
				Name: pulumi.String("hello"), Source: pulumi.String(src), Build: pulumi.String("go build -o hello ."),
				Command: pulumi.String("./hello"), Instances: pulumi.Int(1),
			},
		})
		if err != nil {
			return err
		}
		ctx.Export("regionsStatus", rs.RegionsStatus)
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
	for _, c := range []*testcell.Cell{eu, us} {
		req, _ := http.NewRequest(http.MethodGet, "http://"+c.RouterAddr+"/", nil)
		req.Host = global
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("X-Paved-Region") != c.Region {
			t.Errorf("GET %s via %s's router: %d, served by %q", global, c.Region, resp.StatusCode, resp.Header.Get("X-Paved-Region"))
		}
	}
	if pre := previewOf(t, s); len(pre.changes()) != 0 {
		t.Errorf("an unchanged program previews changes: %v", pre.changes())
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
