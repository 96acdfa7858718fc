package deploy

import (
	"reflect"
	"testing"
	"time"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

func TestResolveDefaults(t *testing.T) {
	got := Resolve(nil)
	want := Strategy{
		Kind:             paved.StrategyRolling,
		MaxInFlight:      DefaultMaxInFlight,
		MaxErrorRate:     DefaultMaxErrorRate,
		MinRequests:      DefaultMinRequests,
		ProgressDeadline: DefaultProgressDeadline,
		AutoRollback:     true,
		DrainTimeout:     DefaultDrainTimeout,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Resolve(nil)\n got %+v\nwant %+v", got, want)
	}
	if got := Resolve(&paved.DeploymentSpec{}); !reflect.DeepEqual(got, want) {
		t.Fatalf("Resolve(empty)\n got %+v\nwant %+v", got, want)
	}
}

func TestResolveSetValues(t *testing.T) {
	sp := paved.DeploymentSpec{
		Strategy:         paved.StrategyCanary,
		MaxInFlight:      "2",
		MinHealthyTime:   dur(time.Second),
		Steps:            []paved.CanaryStep{{Instances: 1, Watch: dur(time.Minute)}, {Weight: 20}},
		MaxErrorRate:     ptrTo(0.0),
		MinRequests:      7,
		KeepOld:          dur(3 * time.Second),
		ProgressDeadline: ptrTo(dur(time.Minute)),
		AutoRollback:     ptrTo(false),
		DrainTimeout:     dur(2 * time.Second),
	}
	got := Resolve(&sp)
	want := Strategy{
		Kind:             paved.StrategyCanary,
		MaxInFlight:      "2",
		MinHealthyTime:   time.Second,
		Steps:            []paved.CanaryStep{{Instances: 1, Watch: dur(time.Minute)}, {Weight: 20, Watch: dur(DefaultCanaryWatch)}},
		MaxErrorRate:     0, // explicitly 0: any error fails
		MinRequests:      7,
		KeepOld:          3 * time.Second,
		ProgressDeadline: time.Minute,
		AutoRollback:     false,
		DrainTimeout:     2 * time.Second,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("\n got %+v\nwant %+v", got, want)
	}
}

func TestResolveAutoRollback(t *testing.T) {
	if !Resolve(&paved.DeploymentSpec{}).AutoRollback {
		t.Error("auto_rollback unset: false, want true")
	}
	if !Resolve(&paved.DeploymentSpec{AutoRollback: ptrTo(true)}).AutoRollback {
		t.Error("auto_rollback true: false")
	}
	if Resolve(&paved.DeploymentSpec{AutoRollback: ptrTo(false)}).AutoRollback {
		t.Error("auto_rollback false: true")
	}
}

func TestResolveCanaryDefaultStep(t *testing.T) {
	got := Resolve(&paved.DeploymentSpec{Strategy: paved.StrategyCanary})
	want := []paved.CanaryStep{{Instances: 1, Watch: dur(DefaultCanaryWatch)}}
	if !reflect.DeepEqual(got.Steps, want) {
		t.Fatalf("steps %+v, want %+v", got.Steps, want)
	}
	// Only the canary strategy gets a default step.
	for _, kind := range []string{"", paved.StrategyRolling, paved.StrategyBlueGreen, paved.StrategyRecreate} {
		if s := Resolve(&paved.DeploymentSpec{Strategy: kind}); len(s.Steps) != 0 {
			t.Errorf("%q: steps %+v, want none", kind, s.Steps)
		}
	}
}

// Resolve must not write its defaults into the caller's spec: the spec is
// the user's (stored on the deployment, shown by the API).
func TestResolveDoesNotModifySpec(t *testing.T) {
	sp := paved.DeploymentSpec{Strategy: paved.StrategyCanary, Steps: []paved.CanaryStep{{Instances: 1}, {Weight: 50}}}
	orig := paved.DeploymentSpec{Strategy: paved.StrategyCanary, Steps: []paved.CanaryStep{{Instances: 1}, {Weight: 50}}}
	s := Resolve(&sp)
	if s.Steps[0].Watch != dur(DefaultCanaryWatch) {
		t.Fatalf("resolved watch %s", s.Steps[0].Watch)
	}
	if !reflect.DeepEqual(sp, orig) {
		t.Fatalf("Resolve wrote its defaults into the caller's spec: steps %+v, want %+v (Strategy.Steps must not alias spec.Steps)", sp.Steps, orig.Steps)
	}
}

// A resolved strategy is independent of the spec it came from.
func TestResolveStepsIndependent(t *testing.T) {
	sp := paved.DeploymentSpec{Strategy: paved.StrategyCanary, Steps: []paved.CanaryStep{{Instances: 1, Watch: dur(time.Second)}}}
	s := Resolve(&sp)
	sp.Steps[0].Instances = 9
	if s.Steps[0].Instances != 1 {
		t.Fatalf("changing the spec after Resolve changed the resolved strategy's steps (instances %d): the steps slice must be a copy", s.Steps[0].Instances)
	}
}
