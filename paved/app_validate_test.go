package paved_test

import (
	"context"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/pavedroad/terraform-provider-paved/paved"
	"github.com/pavedroad/terraform-provider-paved/provider/validators"
)

func tfString(v validator.String, s string) error {
	resp := &validator.StringResponse{}
	v.ValidateString(context.Background(), validator.StringRequest{Path: path.Root("x"), ConfigValue: types.StringValue(s)}, resp)
	if resp.Diagnostics.HasError() {
		return errString(resp.Diagnostics.Errors()[0].Detail())
	}
	return nil
}

type errString string

func (e errString) Error() string { return string(e) }

// The Pulumi plugin checks inputs with paved's checks, Terraform with
// provider/validators: both must give every input the same verdict and
// the same sentence, or the two front ends would disagree about a config.
func TestChecksAgreeWithTerraformValidators(t *testing.T) {
	long := strings.Repeat("a", 64)
	inputs := []string{"", "web", "a", "web-1", "Web", "-web", "web-", "we_b", long, long[:63],
		"web.example.test", "web.example.test/api", "a/b/c", "/api", "Web.test", "we_b.test", "a..b", "localhost",
		"0s", "15s", "1m30s", "500ms", "15", "soon", "-1s", "1s", "2m", "-5s", "x",
		"1", "10", "25%", "100%", "12.5%", "0", "-1", "150%", "0%", "abc", "1.5", "2x"}
	cases := []struct {
		name  string
		paved func(string) error
		tf    func(string) error
	}{
		{"name", paved.CheckName, validators.CheckName},
		{"route", paved.CheckRoute, validators.CheckRoute},
		{"host", paved.CheckHost, validators.CheckHost},
		{"duration", func(s string) error { return paved.CheckDuration(s, false) }, func(s string) error { return tfString(validators.Duration(false), s) }},
		{"positive duration", func(s string) error { return paved.CheckDuration(s, true) }, func(s string) error { return tfString(validators.Duration(true), s) }},
		{"max_in_flight", paved.CheckMaxInFlight, func(s string) error { return tfString(validators.MaxInFlight(), s) }},
	}
	for _, tc := range cases {
		for _, in := range inputs {
			p, tf := tc.paved(in), tc.tf(in)
			if (p == nil) != (tf == nil) || p != nil && p.Error() != tf.Error() {
				t.Errorf("%s(%q): paved says %v, Terraform says %v", tc.name, in, p, tf)
			}
		}
	}
	// Environment variable names: the Terraform validator checks map keys.
	for _, k := range []string{"GREETING", "_x", "a1", "1a", "A-B", "PORT", "PAVED_REGION", "PAVED", "port", ""} {
		resp := &validator.MapResponse{}
		m := types.MapValueMust(types.StringType, map[string]attr.Value{k: types.StringValue("v")})
		validators.EnvNames().ValidateMap(context.Background(), validator.MapRequest{Path: path.Root("env"), ConfigValue: m}, resp)
		p := paved.CheckEnvName(k)
		if (p == nil) != !resp.Diagnostics.HasError() || p != nil && p.Error() != resp.Diagnostics.Errors()[0].Detail() {
			t.Errorf("env name %q: paved says %v, Terraform says %v", k, p, resp.Diagnostics)
		}
	}
}

func TestAppSpecValidate(t *testing.T) {
	rate := 1.5
	zero := paved.Duration(0)
	good := paved.AppSpec{Name: "web", Command: "./web", Instances: 2, Env: map[string]string{"A": "1"},
		Routes:      []paved.Route{{Host: "web.test"}, {Host: "web.test", Path: "/api"}},
		HealthCheck: &paved.HealthCheck{Type: "http", Path: "/healthz"},
		Deployment:  &paved.DeploymentSpec{Strategy: "canary", MaxInFlight: "25%", Steps: []paved.CanaryStep{{Weight: 10}, {Weight: 50}}}}
	if errs := good.Validate(); len(errs) != 0 {
		t.Fatalf("a good spec was refused: %v", errs)
	}
	bad := paved.AppSpec{Name: "Bad_Name", Command: " ", Instances: -1, MemoryMB: -2,
		Env:         map[string]string{"PORT": "1", "K": "v"},
		SecretEnv:   map[string]string{"K": "s"},
		Routes:      []paved.Route{{Host: "web.test"}, {Host: "web.test", Path: "/"}, {Host: "We.test"}},
		HealthCheck: &paved.HealthCheck{Type: "tcp", Path: "/x"},
		Deployment: &paved.DeploymentSpec{Strategy: "sideways", MaxInFlight: "0", ProgressDeadline: &zero,
			KeepOld: paved.Duration(1), Steps: []paved.CanaryStep{{Weight: 101}}, MaxErrorRate: &rate}}
	want := []string{"name", "command", "instances", "memory_mb", "env.PORT", "secret_env.K", "routes[1]", "routes[2]",
		"health_check.path", "deployment.strategy", "deployment.max_in_flight", "deployment.progress_deadline",
		"deployment.keep_old", "deployment.steps", "deployment.steps[0].weight", "deployment.max_error_rate"}
	got := map[string]string{}
	for _, e := range bad.Validate() {
		got[e.Field] = e.Message
		if e.Message == "" {
			t.Errorf("%s: no message", e.Field)
		}
	}
	for _, f := range want {
		if _, ok := got[f]; !ok {
			t.Errorf("no error for %s; got %v", f, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d fields with errors, want %d: %v", len(got), len(want), got)
	}
	if got["instances"] != "instances must be between 0 and 256, not -1" {
		t.Errorf("instances: %q", got["instances"])
	}
	if !strings.Contains(got["deployment.strategy"], `"sideways"`) {
		t.Errorf("strategy: %q", got["deployment.strategy"])
	}
}

func TestParseRoute(t *testing.T) {
	for in, want := range map[string]paved.Route{
		"web.test":         {Host: "web.test"},
		"web.test/api":     {Host: "web.test", Path: "/api"},
		"web.test/api/v1/": {Host: "web.test", Path: "/api/v1/"},
	} {
		if got := paved.ParseRoute(in); got != want {
			t.Errorf("ParseRoute(%q) = %+v, want %+v", in, got, want)
		}
		if in != "web.test/api/v1/" && paved.ParseRoute(in).String() != in {
			t.Errorf("ParseRoute(%q).String() = %q", in, paved.ParseRoute(in).String())
		}
	}
}
