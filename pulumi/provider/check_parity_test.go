package provider

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/property"

	"github.com/pavedroad/terraform-provider-paved/internal/testkit/speccorpus"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

// The parity tests here feed the corpora of speccorpus (the ones the
// library and the cell's API are held to in internal/api, and the
// Terraform provider's plan in provider/) to the checker each resource's
// Check runs, converted to the resource's inputs: a spec the library
// refuses at a field must fail Check at the property pulumiPath gives for
// that field, one the library takes must pass. A case Pulumi's inputs
// cannot say (speccorpus's Undeclarable: a source is a path here, canary
// steps are weights, routes are text, replica sets name regions, not
// peers) is skipped by that predicate and counted.

const sourceDigest = "0000000000000000000000000000000000000000000000000000000000000000"

func TestAppCheckParity(t *testing.T) {
	var declared, disagreed int
	var skipped []string
	for _, tc := range speccorpus.Apps(sourceDigest) {
		if why := tc.Undeclarable(); why != "" {
			skipped = append(skipped, tc.Name+": "+why)
			continue
		}
		declared++
		if strings.HasPrefix(tc.Name, "disagreed:") {
			disagreed++
		}
		t.Run(tc.Name, func(t *testing.T) {
			args := appArgs(tc.Declared())
			var c checker // as App.Check
			c.name("space", args.Space)
			c.settings("", args.Name, args.AppSettings, args.SecretEnv)
			requireVerdict(t, tc.Field, &c)
		})
	}
	logSkipped(t, declared, skipped)
	// The five decided disagreements: Pulumi's inputs cannot say a canary
	// step of instances, so four of them are judged here.
	if disagreed != 4 {
		t.Errorf("%d of the corpus's disagreed cases judged, want 4", disagreed)
	}
}

func TestReplicaSetCheckParity(t *testing.T) {
	var declared int
	var skipped []string
	for _, tc := range speccorpus.ReplicaSets() {
		spec, field, ok := tc.Declared()
		if !ok {
			skipped = append(skipped, tc.Name+": "+tc.Undeclarable())
			continue
		}
		declared++
		t.Run(tc.Name, func(t *testing.T) {
			args := ReplicaSetArgs{ReplicaSetSettings: ReplicaSetSettings{Name: spec.Name, Regions: spec.Regions, Space: spec.Space,
				GlobalHost: spec.GlobalHost, App: ReplicaSetApp{Name: spec.App.Name, AppSettings: appArgs(spec.App).AppSettings}}}
			requireVerdict(t, field, args.check(nil))
		})
	}
	logSkipped(t, declared, skipped)
}

func TestEnvironmentCheckParity(t *testing.T) {
	var declared int
	var skipped []string
	for _, tc := range speccorpus.Environments(sourceDigest) {
		if why := tc.Undeclarable(); why != "" {
			skipped = append(skipped, tc.Name+": "+why)
			continue
		}
		declared++
		t.Run(tc.Name, func(t *testing.T) {
			spec := tc.Declared()
			args := EnvironmentArgs{Name: spec.Name, FromSpace: spec.FromSpace, Ttl: spec.TTL.D().String()}
			if spec.DestroyOnSuccess {
				args.DestroyOnSuccess = ptr(true)
			}
			for app, o := range spec.Overrides {
				if args.Overrides == nil {
					args.Overrides = map[string]AppOverride{}
				}
				args.Overrides[app] = AppOverride{Instances: o.Instances, Env: o.Env}
			}
			requireVerdict(t, tc.Field, args.check())
		})
	}
	logSkipped(t, declared, skipped)
}

// requireVerdict requires the library's verdict of Check's failures: none
// for field "", else one at pulumiPath(field), with a reason.
func requireVerdict(t *testing.T, field string, c *checker) {
	t.Helper()
	fails := c.failures(property.Map{})
	var got []string
	at := false
	for _, f := range fails {
		got = append(got, f.Property+": "+f.Reason)
		at = at || f.Property == pulumiPath(field) && f.Reason != ""
	}
	switch {
	case field == "" && len(fails) > 0:
		t.Errorf("the library takes it, Check refuses it:\n  %s", strings.Join(got, "\n  "))
	case field != "" && !at:
		t.Errorf("the library refuses it at %s (property %s), Check says:\n  %s", field, pulumiPath(field), strings.Join(got, "\n  "))
	}
}

func logSkipped(t *testing.T, declared int, skipped []string) {
	t.Helper()
	t.Logf("%d cases judged, %d not declarable in Pulumi's inputs:\n  %s", declared, len(skipped), strings.Join(skipped, "\n  "))
	if declared == 0 {
		t.Error("no case judged")
	}
}

// appArgs are App's inputs that say spec, in space "prod".
func appArgs(spec paved.AppSpec) AppArgs {
	s := AppSettings{Command: spec.Command, Instances: ptr(spec.Instances), Env: spec.Env,
		Build: text(spec.Build), MemoryMb: count(spec.MemoryMB)}
	for _, r := range spec.Routes {
		route, _ := speccorpus.RouteText(r)
		s.Routes = append(s.Routes, route)
	}
	if hc := spec.HealthCheck; hc != nil {
		s.HealthCheck = &HealthCheck{Type: hc.Type, Path: text(hc.Path),
			Interval: duration(hc.Interval), Timeout: duration(hc.Timeout), Grace: duration(hc.Grace)}
	}
	if d := spec.Deployment; d != nil {
		dep := &Deployment{Strategy: text(d.Strategy), MaxInFlight: text(d.MaxInFlight), MinHealthyTime: duration(d.MinHealthyTime),
			DrainTimeout: duration(d.DrainTimeout), KeepOld: duration(d.KeepOld), AutoRollback: d.AutoRollback}
		if d.ProgressDeadline != nil {
			dep.ProgressDeadline = ptr(d.ProgressDeadline.D().String())
		}
		if len(d.Steps) > 0 || d.MaxErrorRate != nil || d.MinRequests != 0 {
			c := &Canary{MaxErrorRate: d.MaxErrorRate, MinRequests: count(d.MinRequests)}
			for _, st := range d.Steps {
				c.Steps = append(c.Steps, st.Weight)
			}
			if len(d.Steps) > 0 {
				c.Watch = duration(d.Steps[0].Watch)
			}
			dep.Canary = c
		}
		s.Deployment = dep
	}
	return AppArgs{Space: "prod", Name: spec.Name, AppSettings: s, SecretEnv: spec.SecretEnv}
}

// text, count and duration are inputs left out when zero (not set).
func text(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func count(n int) *int {
	if n == 0 {
		return nil
	}
	return &n
}

func duration(d paved.Duration) *string {
	if d == 0 {
		return nil
	}
	return ptr(d.D().String())
}
