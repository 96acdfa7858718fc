package provider

import (
	"context"
	"math/big"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"

	"github.com/pavedroad/terraform-provider-paved/internal/testkit/speccorpus"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

// The parity tests here feed the corpora of speccorpus (the ones the
// library and the cell's API are held to in internal/api) to the
// provider's plan-time checks: the config goes through the framework's
// validation of a resource (ValidateResourceConfig, which runs the
// attributes' validators and the resource's ValidateConfig), and a
// spec the library refuses at a field must fail there at the attribute
// holding that field, one the library takes must pass. A case the
// provider's schema cannot say (speccorpus's Undeclarable: a source is a
// path here, canary steps are weights, routes are text, replica sets name
// regions, not peers) is skipped by that predicate and counted.

// sourceDigest stands in for an uploaded archive in the corpora; no case
// the provider can say reaches it.
const sourceDigest = "0000000000000000000000000000000000000000000000000000000000000000"

func TestAppValidationParity(t *testing.T) {
	j := newJudge(t, "paved_app", NewAppResource())
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
			want, ok := appAttributePath(path.Empty(), tc.Field)
			if tc.Field != "" && !ok {
				t.Fatalf("field %q maps to no attribute", tc.Field)
			}
			j.check(t, tc.Field, want, appValue(j.typ, tc.Declared()))
		})
	}
	logSkipped(t, declared, skipped)
	// The five decided disagreements: the front ends cannot say a canary
	// step of instances, so four of them are judged here.
	if disagreed != 4 {
		t.Errorf("%d of the corpus's disagreed cases judged, want 4", disagreed)
	}
}

func TestReplicaSetValidationParity(t *testing.T) {
	j := newJudge(t, "paved_replica_set", NewReplicaSetResource())
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
			j.check(t, field, replicaSetAttributePath(field), replicaSetValue(j.typ, spec))
		})
	}
	logSkipped(t, declared, skipped)
}

func TestEnvironmentValidationParity(t *testing.T) {
	j := newJudge(t, "paved_environment", NewEnvironmentResource())
	var declared int
	var skipped []string
	for _, tc := range speccorpus.Environments(sourceDigest) {
		if why := tc.Undeclarable(); why != "" {
			skipped = append(skipped, tc.Name+": "+why)
			continue
		}
		declared++
		t.Run(tc.Name, func(t *testing.T) {
			j.check(t, tc.Field, environmentPath(tc.Field), environmentValue(j.typ, tc.Declared()))
		})
	}
	logSkipped(t, declared, skipped)
}

func logSkipped(t *testing.T, declared int, skipped []string) {
	t.Helper()
	t.Logf("%d cases judged, %d not declarable in the provider's schema:\n  %s", declared, len(skipped), strings.Join(skipped, "\n  "))
	if declared == 0 {
		t.Error("no case judged")
	}
}

// judge is the framework's validation of one resource type, served as
// Terraform calls it.
type judge struct {
	srv      tfprotov6.ProviderServer
	typeName string
	typ      tftypes.Object
}

func newJudge(t *testing.T, typeName string, r resource.Resource) judge {
	ctx := context.Background()
	var resp resource.SchemaResponse
	r.Schema(ctx, resource.SchemaRequest{}, &resp)
	if resp.Diagnostics.HasError() {
		t.Fatalf("schema: %v", resp.Diagnostics)
	}
	return judge{srv: providerserver.NewProtocol6(New("test")())(), typeName: typeName,
		typ: resp.Schema.Type().TerraformType(ctx).(tftypes.Object)}
}

// check validates config and requires the verdict: no error for field "",
// else errors, each at want with a sentence.
func (j judge) check(t *testing.T, field string, want path.Path, config tftypes.Value) {
	t.Helper()
	dv, err := tfprotov6.NewDynamicValue(j.typ, config)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := j.srv.ValidateResourceConfig(context.Background(), &tfprotov6.ValidateResourceConfigRequest{TypeName: j.typeName, Config: &dv,
		ClientCapabilities: &tfprotov6.ValidateResourceConfigClientCapabilities{WriteOnlyAttributesAllowed: true}})
	if err != nil {
		t.Fatal(err)
	}
	var errs []string
	wrong := false
	for _, d := range resp.Diagnostics {
		if d.Severity != tfprotov6.DiagnosticSeverityError {
			continue
		}
		at := frameworkPath(d.Attribute)
		errs = append(errs, at.String()+": "+d.Summary+": "+d.Detail)
		if field == "" || !at.Equal(want) || strings.TrimSpace(d.Detail) == "" {
			wrong = true
		}
	}
	switch {
	case field == "" && len(errs) > 0:
		t.Errorf("the library takes it, the provider refuses it:\n  %s", strings.Join(errs, "\n  "))
	case field != "" && len(errs) == 0:
		t.Errorf("the library refuses it at %s, the provider takes it", field)
	case wrong:
		t.Errorf("the library refuses it at %s (attribute %s), the provider says:\n  %s", field, want, strings.Join(errs, "\n  "))
	}
}

// frameworkPath is a diagnostic's attribute as a framework path.
func frameworkPath(ap *tftypes.AttributePath) path.Path {
	p := path.Empty()
	if ap == nil {
		return p
	}
	for _, step := range ap.Steps() {
		switch s := step.(type) {
		case tftypes.AttributeName:
			p = p.AtName(string(s))
		case tftypes.ElementKeyInt:
			p = p.AtListIndex(int(s))
		case tftypes.ElementKeyString:
			p = p.AtMapKey(string(s))
		}
	}
	return p
}

// object is a value of typ with vals, every other attribute null.
func object(typ tftypes.Type, vals map[string]tftypes.Value) tftypes.Value {
	ot := typ.(tftypes.Object)
	all := map[string]tftypes.Value{}
	for name, at := range ot.AttributeTypes {
		all[name] = tftypes.NewValue(at, nil)
		if v, ok := vals[name]; ok {
			all[name] = v
		}
	}
	return tftypes.NewValue(ot, all)
}

func attrType(typ tftypes.Type, name string) tftypes.Type {
	return typ.(tftypes.Object).AttributeTypes[name]
}

func str(s string) tftypes.Value         { return tftypes.NewValue(tftypes.String, s) }
func num(n int) tftypes.Value            { return tftypes.NewValue(tftypes.Number, big.NewFloat(float64(n))) }
func dur(d paved.Duration) tftypes.Value { return str(d.D().String()) }

func strList(items []string) tftypes.Value {
	vals := make([]tftypes.Value, len(items))
	for i, s := range items {
		vals[i] = str(s)
	}
	return tftypes.NewValue(tftypes.List{ElementType: tftypes.String}, vals)
}

func strMap(m map[string]string) tftypes.Value {
	vals := map[string]tftypes.Value{}
	for k, v := range m {
		vals[k] = str(v)
	}
	return tftypes.NewValue(tftypes.Map{ElementType: tftypes.String}, vals)
}

// appSettings are the attributes of an app's settings that say spec.
func appSettings(typ tftypes.Type, spec paved.AppSpec) map[string]tftypes.Value {
	vals := map[string]tftypes.Value{"name": str(spec.Name), "command": str(spec.Command), "instances": num(spec.Instances)}
	if spec.Build != "" {
		vals["build"] = str(spec.Build)
	}
	if spec.MemoryMB != 0 {
		vals["memory_mb"] = num(spec.MemoryMB)
	}
	if spec.Env != nil {
		vals["env"] = strMap(spec.Env)
	}
	if spec.SecretEnv != nil {
		vals["secret_env"] = strMap(spec.SecretEnv)
	}
	if spec.Routes != nil {
		var routes []string
		for _, r := range spec.Routes {
			text, _ := speccorpus.RouteText(r)
			routes = append(routes, text)
		}
		vals["routes"] = strList(routes)
	}
	if hc := spec.HealthCheck; hc != nil {
		h := map[string]tftypes.Value{}
		for name, v := range map[string]string{"type": hc.Type, "path": hc.Path} {
			if v != "" {
				h[name] = str(v)
			}
		}
		for name, v := range map[string]paved.Duration{"interval": hc.Interval, "timeout": hc.Timeout, "grace": hc.Grace} {
			if v != 0 {
				h[name] = dur(v)
			}
		}
		vals["health_check"] = object(attrType(typ, "health_check"), h)
	}
	d := spec.Deployment
	if d == nil {
		return vals
	}
	dt := attrType(typ, "deployment")
	dv := map[string]tftypes.Value{}
	for name, v := range map[string]string{"strategy": d.Strategy, "max_in_flight": d.MaxInFlight} {
		if v != "" {
			dv[name] = str(v)
		}
	}
	for name, v := range map[string]paved.Duration{"min_healthy_time": d.MinHealthyTime, "drain_timeout": d.DrainTimeout, "keep_old": d.KeepOld} {
		if v != 0 {
			dv[name] = dur(v)
		}
	}
	if d.ProgressDeadline != nil {
		dv["progress_deadline"] = dur(*d.ProgressDeadline)
	}
	if d.AutoRollback != nil {
		dv["auto_rollback"] = tftypes.NewValue(tftypes.Bool, *d.AutoRollback)
	}
	if len(d.Steps) > 0 || d.MaxErrorRate != nil || d.MinRequests != 0 {
		c := map[string]tftypes.Value{}
		if len(d.Steps) > 0 {
			weights := make([]tftypes.Value, len(d.Steps))
			for i, s := range d.Steps {
				weights[i] = num(s.Weight)
			}
			c["steps"] = tftypes.NewValue(tftypes.List{ElementType: tftypes.Number}, weights)
			if d.Steps[0].Watch != 0 {
				c["watch"] = dur(d.Steps[0].Watch)
			}
		}
		if d.MaxErrorRate != nil {
			c["max_error_rate"] = tftypes.NewValue(tftypes.Number, big.NewFloat(*d.MaxErrorRate))
		}
		if d.MinRequests != 0 {
			c["min_requests"] = num(d.MinRequests)
		}
		dv["canary"] = object(attrType(dt, "canary"), c)
	}
	vals["deployment"] = object(dt, dv)
	return vals
}

// appValue is a paved_app in space "prod" that says spec.
func appValue(typ tftypes.Object, spec paved.AppSpec) tftypes.Value {
	vals := appSettings(typ, spec)
	vals["space"] = str("prod")
	return object(typ, vals)
}

// replicaSetValue is a paved_replica_set that says spec.
func replicaSetValue(typ tftypes.Object, spec paved.ReplicaSetSpec) tftypes.Value {
	app := attrType(typ, "app")
	return object(typ, map[string]tftypes.Value{
		"name": str(spec.Name), "space": str(spec.Space), "global_host": str(spec.GlobalHost),
		"regions": strList(spec.Regions), "app": object(app, appSettings(app, spec.App)),
	})
}

// environmentValue is a paved_environment that says spec.
func environmentValue(typ tftypes.Object, spec paved.EnvironmentSpec) tftypes.Value {
	vals := map[string]tftypes.Value{"name": str(spec.Name), "from_space": str(spec.FromSpace), "ttl": dur(spec.TTL)}
	if spec.DestroyOnSuccess {
		vals["destroy_on_success"] = tftypes.NewValue(tftypes.Bool, true)
	}
	if spec.Overrides != nil {
		ot := attrType(typ, "overrides").(tftypes.Map)
		overrides := map[string]tftypes.Value{}
		apps := make([]string, 0, len(spec.Overrides))
		for app := range spec.Overrides {
			apps = append(apps, app)
		}
		sort.Strings(apps)
		for _, app := range apps {
			o := spec.Overrides[app]
			v := map[string]tftypes.Value{}
			if o.Instances != nil {
				v["instances"] = num(*o.Instances)
			}
			if o.Env != nil {
				v["env"] = strMap(o.Env)
			}
			overrides[app] = object(ot.ElementType, v)
		}
		vals["overrides"] = tftypes.NewValue(ot, overrides)
	}
	return object(typ, vals)
}

// A value not known at plan (another resource's output) is not judged,
// nor is what depends on it; what is known still is.
func TestAppValidationSkipsUnknowns(t *testing.T) {
	j := newJudge(t, "paved_app", NewAppResource())
	unknown := func(typ tftypes.Type) tftypes.Value { return tftypes.NewValue(typ, tftypes.UnknownValue) }
	dt := attrType(j.typ, "deployment")
	hct := attrType(j.typ, "health_check")
	config := object(j.typ, map[string]tftypes.Value{
		"space": str("prod"), "name": unknown(tftypes.String), "command": unknown(tftypes.String),
		"env":        unknown(tftypes.Map{ElementType: tftypes.String}),
		"secret_env": strMap(map[string]string{"K": "s"}), // in env, perhaps
		"routes":     tftypes.NewValue(tftypes.List{ElementType: tftypes.String}, []tftypes.Value{unknown(tftypes.String), str("a.test"), str("a.test")}),
		"health_check": object(hct, map[string]tftypes.Value{
			"type": unknown(tftypes.String), "path": str("/up"), "interval": unknown(tftypes.String), "timeout": str("5s"),
		}),
		"deployment": object(dt, map[string]tftypes.Value{
			"strategy": unknown(tftypes.String), "keep_old": str("30s"),
			"canary": object(attrType(dt, "canary"), map[string]tftypes.Value{"max_error_rate": tftypes.NewValue(tftypes.Number, big.NewFloat(0.1))}),
		}),
	})
	j.check(t, "", path.Empty(), config)

	known := object(j.typ, map[string]tftypes.Value{
		"space": str("prod"), "name": unknown(tftypes.String), "command": str("./web"), "instances": num(-1),
	})
	j.check(t, "instances", path.Root("instances"), known)
}
