package provider

import (
	"slices"
	"testing"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/property"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

func TestPulumiPath(t *testing.T) {
	for in, want := range map[string]string{
		"name":                       "name",
		"memory_mb":                  "memoryMb",
		"env.PORT":                   "env.PORT",
		"env.A-B":                    `env["A-B"]`,
		"secret_env.API_KEY":         "secretEnv.API_KEY",
		"routes[2]":                  "routes[2]",
		"health_check.path":          "healthCheck.path",
		"deployment.max_in_flight":   "deployment.maxInFlight",
		"deployment.steps":           "deployment.canary",
		"deployment.steps[1].weight": "deployment.canary.steps[1]",
		"deployment.steps[0].watch":  "deployment.canary.watch",
		"deployment.max_error_rate":  "deployment.canary.maxErrorRate",
		"deployment.min_requests":    "deployment.canary.minRequests",
		"min_healthy_regions":        "minHealthyRegions",
		"global_host":                "globalHost",
	} {
		if got := pulumiPath(in); got != want {
			t.Errorf("pulumiPath(%q) = %q, want %q", in, got, want)
		}
	}
	if got := pathSegments(`app.env["A-B"].x[3]`); !slices.Equal(got, []string{"app", "env", "A-B", "x", "3"}) {
		t.Errorf("pathSegments = %q", got)
	}
}

// A value that is not known yet (another resource's output in a preview)
// decodes as a zero value: its checks must not fail the preview.
func TestCheckSkipsUnknowns(t *testing.T) {
	inputs := property.NewMap(map[string]property.Value{
		"space":   property.New(property.Computed),
		"name":    property.New("web"),
		"command": property.New("./web"),
		"deployment": property.New(map[string]property.Value{
			"strategy": property.New(property.Computed),
			"canary":   property.New(map[string]property.Value{"steps": property.New([]property.Value{property.New(10.0)})}),
		}),
	})
	var c checker
	c.name("space", "")
	c.settings("", "web", AppSettings{Command: "./web", Deployment: &Deployment{Canary: &Canary{Steps: []int{10}}}}, nil)
	if got := c.failures(inputs); len(got) != 0 {
		t.Errorf("failures about unknown values: %+v", got)
	}
	var bad checker
	bad.settings("", "Web", AppSettings{Command: "./web"}, nil)
	if got := bad.failures(inputs); len(got) != 1 || got[0].Property != "name" {
		t.Errorf("a known bad name: %+v", got)
	}
}

func TestDiffComparesMeaning(t *testing.T) {
	one := AppSettings{Command: "./web", Instances: ptr(2), Env: map[string]string{},
		HealthCheck: &HealthCheck{Type: "http", Interval: ptr("1m")},
		Deployment:  &Deployment{Strategy: ptr("canary"), Canary: &Canary{Steps: []int{10, 50}, Watch: ptr("30s")}}}
	same := AppSettings{Command: "./web", Instances: ptr(2),
		HealthCheck: &HealthCheck{Type: "http", Interval: ptr("60s")},
		Deployment:  &Deployment{Strategy: ptr("canary"), Canary: &Canary{Steps: []int{10, 50}, Watch: ptr("30s")}}}
	if got := changedSettings(one, same); len(got) != 0 {
		t.Errorf("equivalent settings differ in %v", got)
	}
	other := same
	other.Instances = ptr(3)
	other.Deployment = &Deployment{Strategy: ptr("canary"), Canary: &Canary{Steps: []int{10}, Watch: ptr("30s")}}
	if got := changedSettings(one, other); !slices.Equal(got, []string{"instances", "deployment"}) {
		t.Errorf("changed = %v, want instances and deployment", got)
	}
	if got := changedSettings(AppSettings{Command: "x"}, AppSettings{Command: "x", Instances: ptr(1)}); len(got) != 0 {
		t.Errorf("the default instance count differs: %v", got)
	}
}

// settingsFrom reads back what spec wrote, in the user's spelling.
func TestSettingsRoundTrip(t *testing.T) {
	in := AppSettings{Build: ptr("go build"), Command: "./web", Instances: ptr(2), Env: map[string]string{"A": "1"},
		MemoryMb: ptr(256), Routes: []string{"web.test", "web.test/api"},
		HealthCheck: &HealthCheck{Type: "http", Path: ptr("/healthz"), Interval: ptr("1m"), Grace: ptr("0s")},
		Deployment: &Deployment{Strategy: ptr("canary"), MaxInFlight: ptr("25%"), ProgressDeadline: ptr("2m"),
			AutoRollback: ptr(true), Canary: &Canary{Steps: []int{10, 50}, Watch: ptr("15s"), MaxErrorRate: ptr(0.05), MinRequests: ptr(20)}}}
	spec, err := in.spec("web", "")
	if err != nil {
		t.Fatal(err)
	}
	if errs := spec.Validate(); len(errs) != 0 {
		t.Fatalf("a good spec fails: %v", errs)
	}
	a := &paved.App{AppSpec: spec}
	cfg := &paved.ReleaseConfig{Build: spec.Build, Command: spec.Command, Env: spec.Env, MemoryMB: spec.MemoryMB, HealthCheck: spec.HealthCheck}
	out := settingsFrom(a, cfg, in)
	if got := changedSettings(in, out); len(got) != 0 {
		t.Errorf("read back differs in %v: %+v", got, out)
	}
	if *out.HealthCheck.Interval != "1m" || *out.Deployment.Canary.Watch != "15s" {
		t.Errorf("the spelling was not kept: %q %q", *out.HealthCheck.Interval, *out.Deployment.Canary.Watch)
	}
	a.Instances = 5 // an outside scale
	if got := changedSettings(in, settingsFrom(a, cfg, in)); !slices.Equal(got, []string{"instances"}) {
		t.Errorf("an outside scale shows as %v", got)
	}
}

func TestSecretInputsDiff(t *testing.T) {
	urn := resource.NewURN("dev", "proj", "", "paved:index:App", "web")
	secretMap := func(v string) property.Map {
		return property.NewMap(map[string]property.Value{
			"secretEnv": property.New(map[string]property.Value{"K": property.New(v)}).WithSecret(true),
		})
	}
	req := p.DiffRequest{Urn: urn, OldInputs: secretMap("a"), Inputs: secretMap("a")}
	if got := diffSecretInputs(req, p.DiffResponse{}); got.HasChanges {
		t.Errorf("unchanged secrets differ: %+v", got)
	}
	req.Inputs = secretMap("b")
	got := diffSecretInputs(req, p.DiffResponse{})
	if !got.HasChanges || got.DetailedDiff["secretEnv"].Kind != p.Update {
		t.Errorf("a changed secret is no update: %+v", got)
	}
	req.Inputs = property.Map{}
	if got := diffSecretInputs(req, p.DiffResponse{}); !got.HasChanges {
		t.Error("removed secrets are no update")
	}
}
