package provider

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/attr"
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

// TestAppChange: only what reaches the cell is a change; the local source
// path, another spelling of a duration and (after an import) a new
// secret_env_version alone are not.
func TestAppChange(t *testing.T) {
	state := appModel{
		appSettingsModel: appSettingsModel{
			Name: types.StringValue("web"), Source: types.StringNull(), Command: types.StringValue("./hello"),
			Instances: types.Int64Value(2), MemoryMB: types.Int64Value(0), Build: types.StringNull(),
			Env:         types.MapValueMust(types.StringType, map[string]attr.Value{"GREETING": types.StringValue("hi")}),
			Routes:      types.ListNull(types.StringType),
			HealthCheck: &healthCheckModel{Type: types.StringValue("http"), Path: types.StringNull(), Interval: types.StringValue("1m0s"), Timeout: types.StringNull(), Grace: types.StringNull()},
		},
		SourceHash: types.StringValue("abc"), SecretEnvVersion: types.StringNull(),
	}
	imported := func(m *appModel) {
		m.Source = types.StringValue("/src/web")
		m.SecretEnvVersion = types.StringValue("1")
	}
	cases := []struct {
		name        string
		change      func(*appModel)
		adopt, want bool
	}{
		{"unchanged", func(*appModel) {}, false, false},
		{"a source path with the same content", func(m *appModel) { m.Source = types.StringValue("/elsewhere") }, false, false},
		{"another spelling of a duration", func(m *appModel) {
			hc := *m.HealthCheck
			hc.Interval = types.StringValue("60s")
			m.HealthCheck = &hc
		}, false, false},
		{"an import adopting the secrets", imported, true, false},
		{"secrets set without an import", imported, false, true},
		{"new source content", func(m *appModel) { m.SourceHash = types.StringValue("def") }, false, true},
		{"source not known yet", func(m *appModel) { m.SourceHash = types.StringUnknown() }, false, true},
		{"env", func(m *appModel) {
			m.Env = types.MapValueMust(types.StringType, map[string]attr.Value{"GREETING": types.StringValue("ho")})
		}, true, true},
		{"command not known yet", func(m *appModel) { m.Command = types.StringUnknown() }, true, true},
		{"deployment", func(m *appModel) {
			m.Deployment = &deploymentModel{Strategy: types.StringValue("recreate"), MaxInFlight: types.StringNull(), MinHealthyTime: types.StringNull(),
				ProgressDeadline: types.StringNull(), AutoRollback: types.BoolNull(), DrainTimeout: types.StringNull(), KeepOld: types.StringNull()}
		}, true, true},
	}
	for _, tc := range cases {
		plan := state
		tc.change(&plan)
		if got := appChange(plan, state, tc.adopt); got != tc.want {
			t.Errorf("%s: change %v, want %v", tc.name, got, tc.want)
		}
	}
}
