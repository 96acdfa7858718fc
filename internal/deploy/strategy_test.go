package deploy

import (
	"reflect"
	"testing"
	"time"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

func TestValidate(t *testing.T) {
	canary := func(steps ...paved.CanaryStep) paved.DeploymentSpec {
		return paved.DeploymentSpec{Strategy: paved.StrategyCanary, Steps: steps}
	}
	for _, tc := range []struct {
		name      string
		spec      paved.DeploymentSpec
		instances int
		field     string
		msg       string
	}{
		{"unknown strategy", paved.DeploymentSpec{Strategy: "bluegreen"}, 3,
			"strategy", `unknown strategy "bluegreen": use rolling, canary, blue_green or recreate`},
		{"strategy case matters", paved.DeploymentSpec{Strategy: "Rolling"}, 3,
			"strategy", `unknown strategy "Rolling": use rolling, canary, blue_green or recreate`},
		{"max_in_flight 0", paved.DeploymentSpec{MaxInFlight: "0"}, 3,
			"max_in_flight", `"0" must be a count of at least 1 or a percentage such as "25%"`},
		{"max_in_flight -1", paved.DeploymentSpec{MaxInFlight: "-1"}, 3,
			"max_in_flight", `"-1" must be a count of at least 1 or a percentage such as "25%"`},
		{"max_in_flight abc", paved.DeploymentSpec{MaxInFlight: "abc"}, 3,
			"max_in_flight", `"abc" must be a count of at least 1 or a percentage such as "25%"`},
		{"max_in_flight 150%", paved.DeploymentSpec{MaxInFlight: "150%"}, 3,
			"max_in_flight", `"150%" is not a percentage between 1% and 100%`},
		{"max_in_flight 0%", paved.DeploymentSpec{MaxInFlight: "0%"}, 3,
			"max_in_flight", `"0%" is not a percentage between 1% and 100%`},
		{"max_in_flight x%", paved.DeploymentSpec{MaxInFlight: "x%"}, 3,
			"max_in_flight", `"x%" is not a percentage between 1% and 100%`},
		{"max_error_rate -0.1", paved.DeploymentSpec{MaxErrorRate: ptrTo(-0.1)}, 3,
			"max_error_rate", "max_error_rate is a fraction between 0 and 1 (0.05 = 5%), not -0.1"},
		{"max_error_rate 1.5", paved.DeploymentSpec{MaxErrorRate: ptrTo(1.5)}, 3,
			"max_error_rate", "max_error_rate is a fraction between 0 and 1 (0.05 = 5%), not 1.5"},
		{"min_requests negative", paved.DeploymentSpec{MinRequests: -1}, 3,
			"min_requests", "min_requests must not be negative"},
		{"min_healthy_time negative", paved.DeploymentSpec{MinHealthyTime: dur(-time.Second)}, 3,
			"min_healthy_time", "min_healthy_time must not be negative"},
		{"keep_old negative", paved.DeploymentSpec{Strategy: paved.StrategyBlueGreen, KeepOld: dur(-time.Second)}, 3,
			"keep_old", "keep_old must not be negative"},
		{"drain_timeout negative", paved.DeploymentSpec{DrainTimeout: dur(-time.Second)}, 3,
			"drain_timeout", "drain_timeout must not be negative"},
		{"progress_deadline zero", paved.DeploymentSpec{ProgressDeadline: ptrTo(dur(0))}, 3,
			"progress_deadline", "progress_deadline must be positive, not 0s"},
		{"progress_deadline negative", paved.DeploymentSpec{ProgressDeadline: ptrTo(dur(-5 * time.Second))}, 3,
			"progress_deadline", "progress_deadline must be positive, not -5s"},
		{"steps on rolling", paved.DeploymentSpec{Strategy: paved.StrategyRolling, Steps: []paved.CanaryStep{{Instances: 1}}}, 3,
			"steps", "steps only apply to the canary strategy"},
		{"steps on the default strategy", paved.DeploymentSpec{Steps: []paved.CanaryStep{{Instances: 1}}}, 3,
			"steps", "steps only apply to the canary strategy"},
		{"steps on blue_green", paved.DeploymentSpec{Strategy: paved.StrategyBlueGreen, Steps: []paved.CanaryStep{{Weight: 10}}}, 3,
			"steps", "steps only apply to the canary strategy"},
		{"steps on recreate", paved.DeploymentSpec{Strategy: paved.StrategyRecreate, Steps: []paved.CanaryStep{{Weight: 10}}}, 3,
			"steps", "steps only apply to the canary strategy"},
		{"step more instances than the app", canary(paved.CanaryStep{Instances: 1}, paved.CanaryStep{Instances: 4}), 3,
			"steps[1].instances", "a canary of 4 instances is more than the app's 3 instances"},
		{"step with both", canary(paved.CanaryStep{Instances: 1, Weight: 10}), 3,
			"steps[0]", "a canary step sets instances or weight, not both"},
		{"step with neither", canary(paved.CanaryStep{Instances: 1}, paved.CanaryStep{Watch: dur(time.Second)}), 3,
			"steps[1]", "a canary step needs instances (a count) or weight (a percentage of traffic)"},
		{"step instances negative", canary(paved.CanaryStep{Instances: -1}), 3,
			"steps[0].instances", "instances must be at least 1"},
		{"step weight 101", canary(paved.CanaryStep{Weight: 101}), 3,
			"steps[0].weight", "weight is a percentage of traffic between 1 and 100, not 101"},
		{"step weight negative", canary(paved.CanaryStep{Weight: -5}), 3,
			"steps[0].weight", "weight is a percentage of traffic between 1 and 100, not -5"},
		{"step watch negative", canary(paved.CanaryStep{Instances: 1}, paved.CanaryStep{Weight: 50, Watch: dur(-time.Second)}), 3,
			"steps[1].watch", "watch must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			field, err := Validate(&tc.spec, tc.instances)
			if err == nil {
				t.Fatalf("no error, want %s: %s", tc.field, tc.msg)
			}
			if field != tc.field || err.Error() != tc.msg {
				t.Fatalf("got   %s: %s\nwant  %s: %s", field, err, tc.field, tc.msg)
			}
		})
	}
}

func TestValidateAccepts(t *testing.T) {
	for _, tc := range []struct {
		name      string
		spec      *paved.DeploymentSpec
		instances int
	}{
		{"nil", nil, 3},
		{"empty", &paved.DeploymentSpec{}, 3},
		{"every strategy", &paved.DeploymentSpec{Strategy: paved.StrategyRecreate}, 1},
		{"blue_green keep_old", &paved.DeploymentSpec{Strategy: paved.StrategyBlueGreen, KeepOld: dur(time.Minute)}, 2},
		{"max_in_flight count", &paved.DeploymentSpec{MaxInFlight: "2"}, 3},
		{"max_in_flight more than the app", &paved.DeploymentSpec{MaxInFlight: "10"}, 3},
		{"max_in_flight 1%", &paved.DeploymentSpec{MaxInFlight: "1%"}, 3},
		{"max_in_flight 100%", &paved.DeploymentSpec{MaxInFlight: "100%"}, 3},
		{"max_error_rate 0", &paved.DeploymentSpec{MaxErrorRate: ptrTo(0.0)}, 3},
		{"max_error_rate 1", &paved.DeploymentSpec{MaxErrorRate: ptrTo(1.0)}, 3},
		{"zero durations", &paved.DeploymentSpec{MinHealthyTime: 0, KeepOld: 0, DrainTimeout: 0}, 3},
		{"progress_deadline positive", &paved.DeploymentSpec{ProgressDeadline: ptrTo(dur(time.Nanosecond))}, 3},
		{"canary without steps", &paved.DeploymentSpec{Strategy: paved.StrategyCanary}, 1},
		{"canary instances = app", &paved.DeploymentSpec{Strategy: paved.StrategyCanary, Steps: []paved.CanaryStep{{Instances: 3}}}, 3},
		{"canary weight 1 and 100", &paved.DeploymentSpec{Strategy: paved.StrategyCanary, Steps: []paved.CanaryStep{{Weight: 1}, {Weight: 100, Watch: dur(time.Second)}}}, 3},
		{"canary watch zero", &paved.DeploymentSpec{Strategy: paved.StrategyCanary, Steps: []paved.CanaryStep{{Instances: 1, Watch: 0}}}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if field, err := Validate(tc.spec, tc.instances); err != nil || field != "" {
				t.Fatalf("rejected: %s: %v", field, err)
			}
		})
	}
}

func TestParseMaxInFlight(t *testing.T) {
	for _, tc := range []struct {
		v         string
		instances int
		want      int
	}{
		{"25%", 10, 3},
		{"1%", 3, 1},
		{"100%", 4, 4},
		{"2", 2, 2},
		{"2", 10, 2},
		{"5", 2, 5}, // a count is not capped by the instance count
		{"50%", 3, 2},
		{"50%", 1, 1},
		{"25%", 0, 1}, // at least 1
		{"33.3%", 3, 1},
		{" 3 ", 8, 3},
		{"12.5%", 8, 1},
		{"12.6%", 8, 2},
	} {
		got, err := ParseMaxInFlight(tc.v, tc.instances)
		if err != nil || got != tc.want {
			t.Errorf("ParseMaxInFlight(%q, %d) = %d, %v; want %d", tc.v, tc.instances, got, err, tc.want)
		}
	}
	for _, v := range []string{"", "0", "-1", "abc", "1.5", "0%", "-10%", "150%", "100.1%", "%", "2 %x"} {
		if got, err := ParseMaxInFlight(v, 4); err == nil {
			t.Errorf("ParseMaxInFlight(%q, 4) = %d, want an error", v, got)
		}
	}
}

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
