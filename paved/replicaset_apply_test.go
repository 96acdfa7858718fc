package paved_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

func donationsSpec(rollout string, min int, regions ...string) paved.ReplicaSetSpec {
	return paved.ReplicaSetSpec{
		Name: "donations", Regions: regions, MinHealthyRegions: min, Space: "charity", Rollout: rollout,
		App:        paved.AppSpec{Name: "donations", Command: "./donations", Instances: 1},
		Source:     []byte("pretend tar.gz"),
		GlobalHost: "donations.example.test",
	}
}

func regionNames(st *paved.ReplicaSetStatus) map[string]string {
	out := map[string]string{}
	for _, r := range st.Regions {
		out[r.Region] = r.Status
	}
	return out
}

func TestReplicaSetApplyConvergesEveryRegion(t *testing.T) {
	for _, rollout := range []string{"", paved.RolloutParallel} {
		t.Run("rollout="+rollout, func(t *testing.T) {
			cells := []*fakeCell{newFakeCell(t, "aws-eu-west-1"), newFakeCell(t, "gcp-europe-west2"), newFakeCell(t, "onprem-london")}
			regions := newTestRegions(t, cells)
			var mu sync.Mutex
			var seen []string
			st, err := regions.ReplicaSets.Apply(context.Background(), donationsSpec(rollout, 3, "aws-eu-west-1", "gcp-europe-west2", "onprem-london"),
				func(s paved.RegionStatus) {
					mu.Lock()
					seen = append(seen, s.Region+" "+s.Status)
					mu.Unlock()
				})
			if err != nil {
				t.Fatal(err)
			}
			if st.Ready() != 3 || st.Regions[0].Region != "aws-eu-west-1" || st.Regions[0].Cloud != "cloud-of-aws-eu-west-1" || st.Regions[0].Release != 1 {
				t.Fatalf("status = %+v", st)
			}
			wantPeers := []paved.Peer{{Region: "aws-eu-west-1", Router: cells[0].routerAddr},
				{Region: "gcp-europe-west2", Router: cells[1].routerAddr}, {Region: "onprem-london", Router: cells[2].routerAddr}}
			for _, c := range cells {
				rec, ok := c.record("donations")
				if !ok || rec.Space != "charity" || rec.App != "donations" || rec.GlobalHost != "donations.example.test" || !slices.Equal(rec.Peers, wantPeers) {
					t.Errorf("%s record = %+v", c.region, rec)
				}
				a := c.app("charity/donations")
				if a == nil || a.Source == "" || !c.sources[a.Source] {
					t.Errorf("%s app = %+v (sources %v)", c.region, a, c.sources)
				}
			}
			if !slices.Contains(seen, "onprem-london ready") || !slices.Contains(seen, "aws-eu-west-1 applying") {
				t.Errorf("progress saw %v", seen)
			}
			// A second apply updates in place.
			st, err = regions.ReplicaSets.Apply(context.Background(), donationsSpec(rollout, 3, "aws-eu-west-1", "gcp-europe-west2", "onprem-london"), nil)
			if err != nil || st.Regions[2].Release != 2 {
				t.Fatalf("second apply: %+v %v", st, err)
			}
		})
	}
}

func TestReplicaSetCanaryRegionFailureStopsTheRest(t *testing.T) {
	aws, gcp, onprem := newFakeCell(t, "aws"), newFakeCell(t, "gcp"), newFakeCell(t, "onprem")
	aws.failRollouts = true
	regions := newTestRegions(t, []*fakeCell{aws, gcp, onprem})
	st, err := regions.ReplicaSets.Apply(context.Background(), donationsSpec("", 1, "aws", "gcp", "onprem"), nil)
	var rsErr *paved.ReplicaSetError
	if !errors.As(err, &rsErr) || rsErr.CanaryRegion != "aws" || rsErr.Status != st {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{"canary region aws", "aws: degraded: app charity/donations is failed: release rolled back", "gcp: skipped"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if got := regionNames(st); got["aws"] != paved.RegionDegraded || got["gcp"] != paved.RegionSkipped || got["onprem"] != paved.RegionSkipped {
		t.Errorf("statuses = %v", got)
	}
	if gcp.writeCount() != 0 || onprem.writeCount() != 0 {
		t.Errorf("the other regions were touched: gcp %d writes, onprem %d", gcp.writeCount(), onprem.writeCount())
	}
	// The failed region keeps the record: its router fails over to peers.
	if _, ok := aws.record("donations"); !ok {
		t.Error("the canary region has no record")
	}
}

func TestReplicaSetUnreachableRegionIsDegraded(t *testing.T) {
	aws, onprem := newFakeCell(t, "aws"), newFakeCell(t, "onprem")
	regions := newTestRegions(t, []*fakeCell{aws, onprem}, "gcp")
	// The unreachable first region is no canary: the first reachable one is.
	st, err := regions.ReplicaSets.Apply(context.Background(), donationsSpec("", 2, "gcp", "aws", "onprem"), nil)
	if err != nil {
		t.Fatal(err)
	}
	gcp, _ := st.Region("gcp")
	if gcp.Status != paved.RegionDegraded || !strings.Contains(gcp.Reason, "cannot reach") || st.Ready() != 2 {
		t.Fatalf("status = %+v", st)
	}
	// Peers are the regions that answered; gcp joins on the next apply.
	rec, _ := aws.record("donations")
	if want := []paved.Peer{{Region: "aws", Router: aws.routerAddr}, {Region: "onprem", Router: onprem.routerAddr}}; !slices.Equal(rec.Peers, want) {
		t.Errorf("peers = %+v", rec.Peers)
	}
}

func TestReplicaSetMinHealthyRegions(t *testing.T) {
	aws, gcp := newFakeCell(t, "aws"), newFakeCell(t, "gcp")
	gcp.failRollouts = true
	regions := newTestRegions(t, []*fakeCell{aws, gcp}, "onprem")
	st, err := regions.ReplicaSets.Apply(context.Background(), donationsSpec(paved.RolloutParallel, 2, "aws", "gcp", "onprem"), nil)
	var rsErr *paved.ReplicaSetError
	if !errors.As(err, &rsErr) || rsErr.CanaryRegion != "" || st == nil || st.Ready() != 1 {
		t.Fatalf("status %+v, err %v", st, err)
	}
	for _, want := range []string{"1 of 3 regions converged, 2 needed", "aws: ready (release 1, 1 running)", "gcp: degraded: app charity/donations is failed", "onprem: degraded: cannot reach"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	// Every reachable region has the record, the failed one too.
	if _, ok := gcp.record("donations"); !ok {
		t.Error("gcp has no record")
	}
	// With one region required, the same apply succeeds.
	if _, err := regions.ReplicaSets.Apply(context.Background(), donationsSpec(paved.RolloutParallel, 1, "aws", "gcp", "onprem"), nil); err != nil {
		t.Fatal(err)
	}
}

func TestReplicaSetGlobalHostHeldByAnotherSet(t *testing.T) {
	aws := newFakeCell(t, "aws")
	regions := newTestRegions(t, []*fakeCell{aws})
	other := donationsSpec("", 1, "aws")
	other.Name = "fundraiser"
	if _, err := regions.ReplicaSets.Apply(context.Background(), other, nil); err != nil {
		t.Fatal(err)
	}
	if got := regions.ReplicaSets.HostHolders(context.Background(), "donations.example.test", []string{"aws"}); !slices.Equal(got, []paved.HostHolder{{Region: "aws", ReplicaSet: "fundraiser"}}) {
		t.Fatalf("holders = %+v", got)
	}
	_, err := regions.ReplicaSets.Apply(context.Background(), donationsSpec("", 1, "aws"), nil)
	if err == nil || !strings.Contains(err.Error(), "held by replica set fundraiser") {
		t.Fatalf("err = %v", err)
	}
}

func TestReplicaSetReadAndDelete(t *testing.T) {
	ctx := context.Background()
	aws, gcp := newFakeCell(t, "aws"), newFakeCell(t, "gcp")
	regions := newTestRegions(t, []*fakeCell{aws, gcp}, "onprem")
	if _, err := regions.ReplicaSets.Apply(ctx, donationsSpec("", 1, "aws", "gcp"), nil); err != nil {
		t.Fatal(err)
	}
	st, err := regions.ReplicaSets.Read(ctx, "donations", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := regionNames(st); got["aws"] != paved.RegionReady || got["gcp"] != paved.RegionReady || got["onprem"] != paved.RegionDegraded ||
		st.GlobalHost != "donations.example.test" || st.Space != "charity" || st.App != "donations" {
		t.Fatalf("read = %+v", st)
	}

	// An app deleted outside degrades its region; a record that misses a
	// peer does too (the region was down at the last apply).
	gcp.mu.Lock()
	delete(gcp.apps, "charity/donations")
	gcp.mu.Unlock()
	aws.mu.Lock()
	rec := aws.records["donations"]
	rec.Peers = rec.Peers[:1]
	aws.records["donations"] = rec
	aws.mu.Unlock()
	st, _ = regions.ReplicaSets.Read(ctx, "donations", []string{"aws", "gcp"})
	if a, _ := st.Region("aws"); a.Status != paved.RegionDegraded || !strings.Contains(a.Reason, "does not fail over to gcp") {
		t.Errorf("aws = %+v", a)
	}
	if g, _ := st.Region("gcp"); g.Status != paved.RegionDegraded || !strings.Contains(g.Reason, "app charity/donations does not exist") {
		t.Errorf("gcp = %+v", g)
	}

	if _, err := regions.ReplicaSets.Read(ctx, "donations", []string{"mars"}); err == nil || !strings.Contains(err.Error(), `region "mars" is not configured`) {
		t.Errorf("read of an unknown region: %v", err)
	}

	// An unreachable region fails the delete by name; the others are cleaned.
	err = regions.ReplicaSets.Delete(ctx, "donations", nil)
	if err == nil || !strings.Contains(err.Error(), "region onprem") {
		t.Fatalf("delete = %v", err)
	}
	for _, c := range []*fakeCell{aws, gcp} {
		if _, ok := c.record("donations"); ok || c.app("charity/donations") != nil || !c.spaces["charity"] {
			t.Errorf("%s after delete: records %v apps %v spaces %v", c.region, c.records, c.apps, c.spaces)
		}
	}
	// Deleting again is fine: everything is already gone.
	if err := regions.ReplicaSets.Delete(ctx, "donations", []string{"aws", "gcp"}); err != nil {
		t.Fatal(err)
	}
	st, _ = regions.ReplicaSets.Read(ctx, "donations", []string{"aws"})
	if st.Regions[0].Status != paved.RegionMissing {
		t.Errorf("after delete: %+v", st.Regions[0])
	}
}

func TestReplicaSetSpecValidate(t *testing.T) {
	known := []string{"aws", "gcp", "onprem"}
	tests := []struct {
		name  string
		edit  func(*paved.ReplicaSetSpec)
		field string
		msg   string
	}{
		{"unknown region", func(s *paved.ReplicaSetSpec) { s.Regions = []string{"aws", "mars"} }, "regions[1]",
			`region "mars" is not configured; the configured regions are aws, gcp, onprem`},
		{"duplicate region", func(s *paved.ReplicaSetSpec) { s.Regions = []string{"aws", "gcp", "aws"} }, "regions[2]", "listed twice (also regions[0])"},
		{"no regions", func(s *paved.ReplicaSetSpec) { s.Regions = nil }, "regions", "at least one region"},
		{"min too high", func(s *paved.ReplicaSetSpec) { s.MinHealthyRegions = 4 }, "min_healthy_regions", "between 1 and 3"},
		{"min negative", func(s *paved.ReplicaSetSpec) { s.MinHealthyRegions = -1 }, "min_healthy_regions", "between 1 and 3"},
		{"bad rollout", func(s *paved.ReplicaSetSpec) { s.Rollout = "yolo" }, "rollout", `"canary_region" or "parallel"`},
		{"bad host", func(s *paved.ReplicaSetSpec) { s.GlobalHost = "Donations_.test" }, "global_host", "not a valid host name"},
		{"no host", func(s *paved.ReplicaSetSpec) { s.GlobalHost = "" }, "global_host", "a global host is required"},
		{"bad name", func(s *paved.ReplicaSetSpec) { s.Name = "Donations" }, "name", "DNS label"},
		{"bad app name", func(s *paved.ReplicaSetSpec) { s.App.Name = "" }, "app.name", "DNS label"},
		{"source mismatch", func(s *paved.ReplicaSetSpec) { s.App.Source = "0123456789abcdef" }, "app.source", "0123456789ab"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := donationsSpec("", 0, "aws", "gcp", "onprem")
			tc.edit(&spec)
			errs := spec.Validate(known)
			if len(errs) != 1 || errs[0].Field != tc.field || !strings.Contains(errs[0].Message, tc.msg) {
				t.Fatalf("errors = %+v", errs)
			}
		})
	}
	if errs := donationsSpec("", 0, "aws", "mars").Validate(nil); len(errs) != 0 {
		t.Errorf("nil known skips the region check: %+v", errs)
	}
	regions := newTestRegions(t, nil, "aws")
	_, err := regions.ReplicaSets.Apply(context.Background(), donationsSpec("", 0, "aws", "mars"), nil)
	if !errors.Is(err, paved.ErrValidation) || !strings.Contains(err.Error(), `regions[1]: region "mars"`) {
		t.Fatalf("apply of an invalid spec: %v", err)
	}
}

// TestReplicaSetApplyPassesSecretEnv: the app's secret env reaches every
// region's cell (which keeps it write-only).
func TestReplicaSetApplyPassesSecretEnv(t *testing.T) {
	cells := []*fakeCell{newFakeCell(t, "aws"), newFakeCell(t, "gcp")}
	regions := newTestRegions(t, cells)
	spec := donationsSpec(paved.RolloutParallel, 2, "aws", "gcp")
	spec.App.SecretEnv = map[string]string{"DB_PASSWORD": "s3cret-value-for-every-region"}
	if _, err := regions.ReplicaSets.Apply(context.Background(), spec, nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range cells {
		if a := c.app("charity/donations"); a == nil || a.SecretEnv["DB_PASSWORD"] != "s3cret-value-for-every-region" {
			t.Errorf("%s app = %+v, want the secret env", c.region, a)
		}
	}
}

// A region whose health says its router speaks TLS is recorded as a TLS
// peer; when a region turns TLS on, the records that still name it as
// plain are stale until the next apply.
func TestReplicaSetRecordsPeerTLS(t *testing.T) {
	ctx := context.Background()
	aws, gcp := newFakeCell(t, "aws"), newFakeCell(t, "gcp")
	gcp.routerTLS = true
	regions := newTestRegions(t, []*fakeCell{aws, gcp})
	if _, err := regions.ReplicaSets.Apply(ctx, donationsSpec("", 2, "aws", "gcp"), nil); err != nil {
		t.Fatal(err)
	}
	rec, _ := aws.record("donations")
	if want := []paved.Peer{{Region: "aws", Router: aws.routerAddr}, {Region: "gcp", Router: gcp.routerAddr, TLS: true}}; !slices.Equal(rec.Peers, want) {
		t.Fatalf("peers = %+v, want %+v", rec.Peers, want)
	}
	aws.mu.Lock()
	aws.routerTLS = true
	aws.mu.Unlock()
	st, err := regions.ReplicaSets.Read(ctx, "donations", nil)
	if err != nil {
		t.Fatal(err)
	}
	if g, _ := st.Region("gcp"); g.Status != paved.RegionDegraded || !strings.Contains(g.Reason, "does not fail over to aws") {
		t.Fatalf("gcp after aws turned TLS on: %+v, want degraded (stale peer)", g)
	}
	if _, err := regions.ReplicaSets.Apply(ctx, donationsSpec("", 2, "aws", "gcp"), nil); err != nil {
		t.Fatal(err)
	}
	if rec, _ := gcp.record("donations"); !slices.Equal(rec.Peers, []paved.Peer{{Region: "aws", Router: aws.routerAddr, TLS: true}, {Region: "gcp", Router: gcp.routerAddr, TLS: true}}) {
		t.Fatalf("peers after the next apply = %+v", rec.Peers)
	}
}
