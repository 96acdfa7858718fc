package provider

import (
	"context"
	"slices"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

func TestReplicaSetSchemaIsValid(t *testing.T) {
	ctx := context.Background()
	var resp resource.SchemaResponse
	NewReplicaSetResource().Schema(ctx, resource.SchemaRequest{}, &resp)
	if resp.Diagnostics.HasError() {
		t.Fatal(resp.Diagnostics)
	}
	if diags := resp.Schema.ValidateImplementation(ctx); diags.HasError() {
		t.Fatal(diags)
	}
	// The app block has paved_app's settings, from the same code.
	var app resource.SchemaResponse
	NewAppResource().Schema(ctx, resource.SchemaRequest{}, &app)
	block := resp.Schema.Blocks["app"].GetNestedObject()
	for name := range appSettingsAttributes() {
		if _, ok := block.GetAttributes()[name]; !ok {
			t.Errorf("the app block lacks %q", name)
		}
		if _, ok := app.Schema.Attributes[name]; !ok {
			t.Errorf("paved_app lacks %q", name)
		}
	}
	for _, name := range []string{"health_check", "deployment"} {
		if _, ok := block.GetBlocks()[name]; !ok {
			t.Errorf("the app block lacks block %q", name)
		}
	}

	var ds datasource.SchemaResponse
	NewRegionsDataSource().Schema(ctx, datasource.SchemaRequest{}, &ds)
	if diags := ds.Schema.ValidateImplementation(ctx); diags.HasError() {
		t.Fatal(diags)
	}
}

func TestReplicaSetAttributePath(t *testing.T) {
	cases := map[string]path.Path{
		"regions[2]":          path.Root("regions").AtListIndex(2),
		"min_healthy_regions": path.Root("min_healthy_regions"),
		"app.name":            path.Root("app").AtName("name"),
		"global_host":         path.Root("global_host"),
	}
	for field, want := range cases {
		if got := replicaSetAttributePath(field); !got.Equal(want) {
			t.Errorf("replicaSetAttributePath(%q) = %s, want %s", field, got, want)
		}
	}
}

func TestHostClaims(t *testing.T) {
	h := newHostClaims()
	if _, taken := h.claim("donations.example.test", "donations"); taken {
		t.Fatal("first claim refused")
	}
	// The same replica set is planned again at apply.
	if _, taken := h.claim("donations.example.test", "donations"); taken {
		t.Fatal("a second claim by the same set refused")
	}
	if other, taken := h.claim("donations.example.test", "fundraiser"); !taken || other != "donations" {
		t.Fatalf("claim by another set: %q %v", other, taken)
	}
}

func TestReplicaSetModelRegionsStatus(t *testing.T) {
	ctx := context.Background()
	var m replicaSetModel
	st := &paved.ReplicaSetStatus{Regions: []paved.RegionStatus{
		{Region: "aws", Status: paved.RegionReady, Release: 2, RunningInstances: 1, Cloud: "aws"},
		{Region: "gcp", Status: paved.RegionDegraded, Reason: "cannot reach the paved cell"},
	}}
	if diags := m.setStatus(ctx, st); diags.HasError() {
		t.Fatal(diags)
	}
	if m.allReady(ctx) {
		t.Error("a degraded region counted as ready")
	}
	st.Regions = st.Regions[:1]
	m.setStatus(ctx, st)
	if !m.allReady(ctx) {
		t.Error("every region ready, not seen")
	}
	m.RegionsStatus = types.MapNull(regionStatusType)
	if m.allReady(ctx) {
		t.Error("no status counted as ready")
	}
}

func TestReplicaSetModelRegions(t *testing.T) {
	var m replicaSetModel
	m.Regions, _ = types.ListValueFrom(context.Background(), types.StringType, []string{"aws", "gcp"})
	if got := m.regionNames(); !slices.Equal(got, []string{"aws", "gcp"}) {
		t.Fatalf("regionNames = %v", got)
	}
	m.Regions = types.ListValueMust(types.StringType, []attr.Value{types.StringValue("aws"), types.StringUnknown()})
	if m.regionNames() != nil {
		t.Error("a region unknown at plan time gave names")
	}
}
