package provider

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/property"
)

const replicaSecret = "replica-s3cret-never-an-output"

func replicaSetArgs(secretEnv map[string]string) ReplicaSetArgs {
	return ReplicaSetArgs{ReplicaSetSettings: ReplicaSetSettings{
		Name: "hello", Regions: []string{"eu", "us"}, MinHealthyRegions: ptr(1), Space: "shop",
		GlobalHost: "hello.global.test", Rollout: ptr("parallel"),
		App: ReplicaSetApp{Name: "hello", AppSettings: AppSettings{Command: "./hello", Instances: ptr(1),
			Env: map[string]string{"MODE": "test"}}},
	}, SecretEnv: secretEnv}
}

// secretEnv is a secret input of ReplicaSet and none of its outputs: not
// in the schema's properties, not in what an apply records.
func TestReplicaSetSecretEnvNeverAnOutput(t *testing.T) {
	prov, err := New()
	if err != nil {
		t.Fatal(err)
	}
	spec, err := p.GetSchema(context.Background(), Name, Version, prov)
	if err != nil {
		t.Fatal(err)
	}
	rs, ok := spec.Resources[Name+":index:ReplicaSet"]
	if !ok {
		t.Fatal("no ReplicaSet in the schema")
	}
	if in, ok := rs.InputProperties["secretEnv"]; !ok || !in.Secret {
		t.Errorf("secretEnv is not a secret input: %+v (present %t)", in, ok)
	}
	if _, ok := rs.Properties["secretEnv"]; ok {
		t.Error("secretEnv is an output")
	}
	for _, typ := range []string{"ReplicaSetApp"} {
		if _, ok := spec.Types[Name+":index:"+typ].Properties["secretEnv"]; ok {
			t.Errorf("%s, an output type too, has secretEnv", typ)
		}
	}
	if _, ok := rs.InputProperties["app"]; !ok {
		t.Error("no app input")
	}

	// A preview of a create or an update records the settings, never the secret.
	in := replicaSetArgs(map[string]string{"APP_SECRET": replicaSecret})
	for _, prior := range []*ReplicaSetState{nil, {ReplicaSetSettings: in.ReplicaSetSettings, RegionsStatus: map[string]RegionStatus{}}} {
		st, err := applyReplicaSet(context.Background(), in, prior, true)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(st)
		if strings.Contains(string(b), replicaSecret) || strings.Contains(string(b), "APP_SECRET") {
			t.Errorf("the planned state holds the secret: %s", b)
		}
		if st.Name != "hello" || st.App.Env["MODE"] != "test" {
			t.Errorf("the planned state lost the settings: %+v", st)
		}
	}
}

// replicaSetProps are inputs or outputs as the engine sends them.
func replicaSetProps(secret *string, regionsStatus bool) property.Map {
	m := map[string]property.Value{
		"name":              property.New("hello"),
		"regions":           property.New([]property.Value{property.New("eu"), property.New("us")}),
		"minHealthyRegions": property.New(1.0),
		"space":             property.New("shop"),
		"globalHost":        property.New("hello.global.test"),
		"rollout":           property.New("parallel"),
		"app": property.New(map[string]property.Value{
			"name": property.New("hello"), "command": property.New("./hello"), "instances": property.New(1.0),
			"env": property.New(map[string]property.Value{"MODE": property.New("test")}),
		}),
	}
	if secret != nil {
		m["secretEnv"] = property.New(map[string]property.Value{"APP_SECRET": property.New(*secret)}).WithSecret(true)
	}
	if regionsStatus {
		ready := property.New(map[string]property.Value{
			"status": property.New("ready"), "release": property.New(1.0), "runningInstances": property.New(1.0),
		})
		m["regionsStatus"] = property.New(map[string]property.Value{"eu": ready, "us": ready})
	}
	return property.NewMap(m)
}

// A change of the secret values alone is an in-place update of secretEnv,
// found in the recorded inputs (the outputs never hold it).
func TestReplicaSetSecretEnvDiff(t *testing.T) {
	prov, err := New()
	if err != nil {
		t.Fatal(err)
	}
	urn := resource.NewURN("dev", "proj", "", Name+":index:ReplicaSet", "hello")
	diff := func(old, cur *string) p.DiffResponse {
		t.Helper()
		resp, err := prov.Diff(context.Background(), p.DiffRequest{ID: "hello", Urn: urn,
			State: replicaSetProps(nil, true), OldInputs: replicaSetProps(old, false), Inputs: replicaSetProps(cur, false)})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	a, b := "a-secret", "b-secret"
	if got := diff(&a, &a); got.HasChanges {
		t.Errorf("unchanged secrets differ: %+v", got)
	}
	got := diff(&a, &b)
	if !got.HasChanges || got.DeleteBeforeReplace || len(got.DetailedDiff) != 1 || got.DetailedDiff["secretEnv"].Kind != p.Update {
		t.Errorf("a new secret value diffs as %+v, want an in-place update of secretEnv only", got)
	}
	if got := diff(nil, &a); !got.HasChanges || got.DetailedDiff["secretEnv"].Kind != p.Update {
		t.Errorf("added secrets diff as %+v", got)
	}
	if got := diff(&a, nil); !got.HasChanges || got.DetailedDiff["secretEnv"].Kind != p.Update {
		t.Errorf("removed secrets diff as %+v", got)
	}
}

// Check validates secretEnv's keys at their property paths (the top
// level, not under app), and against app.env.
func TestReplicaSetCheckSecretEnv(t *testing.T) {
	in := replicaSetArgs(map[string]string{"bad-key": "x", "MODE": "y", "APP_SECRET": replicaSecret})
	c := in.check([]string{"eu", "us"})
	var paths []string
	for _, f := range c.failures(property.Map{}) {
		paths = append(paths, f.Property)
		if strings.Contains(f.Reason, replicaSecret) {
			t.Errorf("a failure shows the secret: %s", f.Reason)
		}
	}
	slices.Sort(paths)
	if want := []string{"secretEnv.MODE", `secretEnv["bad-key"]`}; !slices.Equal(paths, want) {
		t.Errorf("failures at %v, want %v", paths, want)
	}
	// app.env not known yet: the clash with it is not decided.
	unknownEnv := property.NewMap(map[string]property.Value{
		"app": property.New(map[string]property.Value{"env": property.New(property.Computed)}),
	})
	for _, f := range c.failures(unknownEnv) {
		if f.Property == "secretEnv.MODE" {
			t.Errorf("a clash with an unknown app.env fails: %+v", f)
		}
	}
	if c := replicaSetArgs(map[string]string{"APP_SECRET": replicaSecret}).check(nil); len(c.list) != 0 {
		t.Errorf("good secrets fail: %+v", c.list)
	}
}

// The secrets go to every region; none declared sends none (each region
// keeps its own).
func TestReplicaSetSecretEnvSpec(t *testing.T) {
	for _, tc := range []struct {
		secretEnv map[string]string
		want      map[string]string
	}{
		{map[string]string{"APP_SECRET": replicaSecret}, map[string]string{"APP_SECRET": replicaSecret}},
		{nil, nil},
		{map[string]string{}, nil},
	} {
		in := replicaSetArgs(tc.secretEnv)
		spec, err := in.spec("")
		if err != nil {
			t.Fatal(err)
		}
		if !equalMaps(spec.App.SecretEnv, tc.want) || (tc.want == nil) != (spec.App.SecretEnv == nil) {
			t.Errorf("secretEnv %v sends %v, want %v", tc.secretEnv, spec.App.SecretEnv, tc.want)
		}
	}
}
