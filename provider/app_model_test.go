package provider

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

func TestAppSchemaIsValid(t *testing.T) {
	ctx := context.Background()
	for _, r := range []resource.Resource{NewAppResource(), NewSpaceResource()} {
		var resp resource.SchemaResponse
		r.Schema(ctx, resource.SchemaRequest{}, &resp)
		if resp.Diagnostics.HasError() {
			t.Fatal(resp.Diagnostics)
		}
		if diags := resp.Schema.ValidateImplementation(ctx); diags.HasError() {
			t.Fatal(diags)
		}
	}
	var resp resource.SchemaResponse
	NewAppResource().Schema(ctx, resource.SchemaRequest{}, &resp)
	// The core of the schema is fixed: docs, Pulumi and scripts rely on it.
	for _, name := range []string{"space", "name", "source", "build", "command", "instances", "env", "routes",
		"source_hash", "release", "last_good_release", "status", "urls", "secret_env", "secret_env_version"} {
		if _, ok := resp.Schema.Attributes[name]; !ok {
			t.Errorf("paved_app lost attribute %q", name)
		}
	}
	if !resp.Schema.Attributes["secret_env"].IsWriteOnly() || !resp.Schema.Attributes["secret_env"].IsSensitive() {
		t.Error("secret_env must be write-only and sensitive")
	}
	for _, name := range []string{"health_check", "deployment", "timeouts"} {
		if _, ok := resp.Schema.Blocks[name]; !ok {
			t.Errorf("paved_app lost block %q", name)
		}
	}
}

func TestDurationStringKeepsUserSpelling(t *testing.T) {
	cases := []struct {
		cell  time.Duration
		prior types.String
		want  types.String
	}{
		{time.Minute, types.StringValue("1m"), types.StringValue("1m")},
		{time.Minute, types.StringValue("60s"), types.StringValue("60s")},
		{2 * time.Minute, types.StringValue("1m"), types.StringValue("2m0s")}, // drift shows
		{0, types.StringNull(), types.StringNull()},
		{0, types.StringValue("0s"), types.StringValue("0s")},
		{1500 * time.Millisecond, types.StringNull(), types.StringValue("1.5s")},
	}
	for _, tc := range cases {
		if got := durationString(paved.Duration(tc.cell), tc.prior); !got.Equal(tc.want) {
			t.Errorf("durationString(%s, %s) = %s, want %s", tc.cell, tc.prior, got, tc.want)
		}
	}
}

func TestAttributePath(t *testing.T) {
	cases := map[string]path.Path{
		"name":                         path.Root("name"),
		"routes[2].host":               path.Root("routes").AtListIndex(2),
		"health_check.type":            path.Root("health_check").AtName("type"),
		"env.PORT":                     path.Root("env").AtMapKey("PORT"),
		"deployment.strategy":          path.Root("deployment").AtName("strategy"),
		"deployment.steps[0].weight":   path.Root("deployment").AtName("canary").AtName("steps").AtListIndex(0),
		"deployment.steps[2]":          path.Root("deployment").AtName("canary").AtName("steps").AtListIndex(2),
		"deployment.steps":             path.Root("deployment").AtName("canary").AtName("steps"),
		"deployment.steps[1].watch":    path.Root("deployment").AtName("canary").AtName("watch"),
		"deployment.max_error_rate":    path.Root("deployment").AtName("canary").AtName("max_error_rate"),
		"secret_env.KEY":               path.Root("secret_env").AtMapKey("KEY"),
		"deployment.progress_deadline": path.Root("deployment").AtName("progress_deadline"),
	}
	for field, want := range cases {
		got, ok := attributePath(field)
		if !ok || !got.Equal(want) {
			t.Errorf("attributePath(%q) = %s, %v; want %s", field, got, ok, want)
		}
	}
	if _, ok := attributePath("something.else"); ok {
		t.Error("unknown field mapped")
	}
}
