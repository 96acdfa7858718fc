package paved_test

import (
	"strings"
	"testing"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// The checks are the one home of these rules: the Terraform validators
// (provider/validators) and the Pulumi plugin call them.
func TestChecks(t *testing.T) {
	long := strings.Repeat("a", 64)
	cases := []struct {
		name   string
		check  func(string) error
		ok     []string
		refuse map[string]string // input → part of the sentence
	}{
		{"name", paved.CheckName, []string{"web", "a", "web-1", long[:63]},
			map[string]string{"": "not a valid name", "Web": "lowercase", "-web": "starting and ending", "we_b": "not a valid name", long: "1 to 63"}},
		{"host", paved.CheckHost, []string{"web.example.test", "localhost"},
			map[string]string{"Web.test": "not a valid host name", "a..b": "DNS labels", "": "not a valid host name"}},
		{"route", paved.CheckRoute, []string{"web.example.test", "web.example.test/api", "a/b/c"},
			map[string]string{"/api": "needs a host", "we_b.test/x": "not a valid host name"}},
		{"duration", func(s string) error { return paved.CheckDuration(s, false) }, []string{"0s", "15s", "1m30s", "500ms"},
			map[string]string{"15": "not a duration", "soon": "not a duration", "-1s": "zero or more"}},
		{"positive duration", func(s string) error { return paved.CheckDuration(s, true) }, []string{"1s", "2m"},
			map[string]string{"0s": "more than zero", "-5s": "more than zero"}},
		{"max_in_flight", paved.CheckMaxInFlight, []string{"1", "10", "25%", "100%", "12.5%"},
			map[string]string{"0": "at least 1", "-1": "at least 1", "150%": "between 1% and 100%", "0%": "percentage", "1.5": "count", "2x": "count"}},
		{"env name", paved.CheckEnvName, []string{"GREETING", "_x", "a1", "PAVED"},
			map[string]string{"1a": "not a valid environment variable name", "A-B": "letters, digits and _", "PORT": "set by the cell", "PAVED_REGION": "set by the cell", "": "not a valid"}},
	}
	for _, tc := range cases {
		for _, in := range tc.ok {
			if err := tc.check(in); err != nil {
				t.Errorf("%s(%q) refused: %v", tc.name, in, err)
			}
		}
		for in, want := range tc.refuse {
			err := tc.check(in)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s(%q) = %v, want an error saying %q", tc.name, in, err, want)
			}
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
	want := []string{"name", "command", "instances", "memory_mb", "env.PORT", "secret_env.K", "routes[1]", "routes[2].host",
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
