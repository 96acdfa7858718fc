package paved_test

import (
	"strings"
	"testing"
	"time"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// These cases were internal/deploy's TestValidate, TestValidateAccepts and
// TestParseMaxInFlight when the cell had a deployment validator and a
// max_in_flight grammar of its own. Four of them encoded what the cell
// accepted and the library refused, and now say the opposite: max_error_rate
// and min_requests on the default (rolling) strategy, and " 3 " as a
// max_in_flight.
func TestDeploymentSpecValidate(t *testing.T) {
	dur := func(d time.Duration) paved.Duration { return paved.Duration(d) }
	f := func(v float64) *float64 { return &v }
	canary := func(steps ...paved.CanaryStep) paved.DeploymentSpec {
		return paved.DeploymentSpec{Strategy: paved.StrategyCanary, Steps: steps}
	}
	for _, tc := range []struct {
		name      string
		spec      paved.DeploymentSpec
		instances int
		field     string
		msg       string // part of the message
	}{
		{"unknown strategy", paved.DeploymentSpec{Strategy: "bluegreen"}, 3, "strategy", `strategy "bluegreen" is not one of rolling, canary, blue_green or recreate`},
		{"strategy case matters", paved.DeploymentSpec{Strategy: "Rolling"}, 3, "strategy", `"Rolling" is not one of`},
		{"max_in_flight 0", paved.DeploymentSpec{MaxInFlight: "0"}, 3, "max_in_flight", `"0" must be a count of at least 1 or a percentage such as "25%"`},
		{"max_in_flight -1", paved.DeploymentSpec{MaxInFlight: "-1"}, 3, "max_in_flight", `"-1" must be a count of at least 1`},
		{"max_in_flight abc", paved.DeploymentSpec{MaxInFlight: "abc"}, 3, "max_in_flight", `"abc" must be a count`},
		{"max_in_flight with a space", paved.DeploymentSpec{MaxInFlight: " 2"}, 3, "max_in_flight", `" 2" must be a count`},
		{"max_in_flight 150%", paved.DeploymentSpec{MaxInFlight: "150%"}, 3, "max_in_flight", `"150%" is not a percentage between 1% and 100%`},
		{"max_in_flight 0%", paved.DeploymentSpec{MaxInFlight: "0%"}, 3, "max_in_flight", `"0%" is not a percentage`},
		{"max_in_flight x%", paved.DeploymentSpec{MaxInFlight: "x%"}, 3, "max_in_flight", `"x%" is not a percentage`},
		{"max_error_rate -0.1", paved.DeploymentSpec{Strategy: paved.StrategyCanary, MaxErrorRate: f(-0.1)}, 3, "max_error_rate", "max_error_rate is a fraction between 0 and 1 (0.05 = 5%), not -0.1"},
		{"max_error_rate 1.5", paved.DeploymentSpec{Strategy: paved.StrategyCanary, MaxErrorRate: f(1.5)}, 3, "max_error_rate", "not 1.5"},
		{"max_error_rate on rolling", paved.DeploymentSpec{MaxErrorRate: f(0.1)}, 3, "max_error_rate", `only apply when strategy = "canary", not "rolling" (the default)`},
		{"min_requests on rolling", paved.DeploymentSpec{Strategy: paved.StrategyRolling, MinRequests: 5}, 3, "min_requests", `only apply when strategy = "canary", not "rolling"`},
		{"min_requests negative", paved.DeploymentSpec{Strategy: paved.StrategyCanary, MinRequests: -1}, 3, "min_requests", "min_requests must be at least 1, not -1"},
		{"min_healthy_time negative", paved.DeploymentSpec{MinHealthyTime: dur(-time.Second)}, 3, "min_healthy_time", "min_healthy_time must not be negative"},
		{"keep_old negative", paved.DeploymentSpec{Strategy: paved.StrategyBlueGreen, KeepOld: dur(-time.Second)}, 3, "keep_old", "keep_old must not be negative"},
		{"keep_old on rolling", paved.DeploymentSpec{KeepOld: dur(time.Second)}, 3, "keep_old", `keep_old only applies when strategy = "blue_green", not "rolling" (the default)`},
		{"keep_old on canary", paved.DeploymentSpec{Strategy: paved.StrategyCanary, KeepOld: dur(time.Second)}, 3, "keep_old", `not "canary"`},
		{"drain_timeout negative", paved.DeploymentSpec{DrainTimeout: dur(-time.Second)}, 3, "drain_timeout", "drain_timeout must not be negative"},
		{"progress_deadline zero", paved.DeploymentSpec{ProgressDeadline: ptr(dur(0))}, 3, "progress_deadline", "progress_deadline must be more than zero, not 0s"},
		{"progress_deadline negative", paved.DeploymentSpec{ProgressDeadline: ptr(dur(-5 * time.Second))}, 3, "progress_deadline", "not -5s"},
		{"steps on rolling", paved.DeploymentSpec{Strategy: paved.StrategyRolling, Steps: []paved.CanaryStep{{Instances: 1}}}, 3, "steps", `canary settings (steps) only apply when strategy = "canary"`},
		{"steps on the default strategy", paved.DeploymentSpec{Steps: []paved.CanaryStep{{Instances: 1}}}, 3, "steps", "only apply"},
		{"steps on blue_green", paved.DeploymentSpec{Strategy: paved.StrategyBlueGreen, Steps: []paved.CanaryStep{{Weight: 10}}}, 3, "steps", `not "blue_green"`},
		{"steps on recreate", paved.DeploymentSpec{Strategy: paved.StrategyRecreate, Steps: []paved.CanaryStep{{Weight: 10}}}, 3, "steps", `not "recreate"`},
		{"step more instances than the app", canary(paved.CanaryStep{Instances: 1}, paved.CanaryStep{Instances: 4}), 3, "steps[1].instances", "a canary of 4 instances is more than the app's 3 instances"},
		{"step of an app without instances", canary(paved.CanaryStep{Instances: 1}), 0, "steps[0].instances", "more than the app's 0 instances"},
		{"step with both", canary(paved.CanaryStep{Instances: 1, Weight: 10}), 3, "steps[0]", "a canary step sets instances or weight, not both"},
		{"step with neither", canary(paved.CanaryStep{Instances: 1}, paved.CanaryStep{Watch: dur(time.Second)}), 3, "steps[1]", "a canary step needs instances (a count) or weight (a percentage of traffic)"},
		{"step instances negative", canary(paved.CanaryStep{Instances: -1}), 3, "steps[0].instances", "instances must be at least 1"},
		{"step weight 101", canary(paved.CanaryStep{Weight: 101}), 3, "steps[0].weight", "weight is a percentage of traffic between 1 and 100, not 101"},
		{"step weight negative", canary(paved.CanaryStep{Weight: -5}), 3, "steps[0].weight", "not -5"},
		{"step watch negative", canary(paved.CanaryStep{Instances: 1}, paved.CanaryStep{Weight: 50, Watch: dur(-time.Second)}), 3, "steps[1].watch", "watch must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs := tc.spec.Validate(tc.instances)
			if len(errs) != 1 {
				t.Fatalf("got %v, want one error at %s: %s", errs, tc.field, tc.msg)
			}
			if errs[0].Field != tc.field || !strings.Contains(errs[0].Message, tc.msg) {
				t.Fatalf("got   %s: %s\nwant  %s: …%s…", errs[0].Field, errs[0].Message, tc.field, tc.msg)
			}
		})
	}
}

func TestDeploymentSpecValidateAccepts(t *testing.T) {
	dur := func(d time.Duration) paved.Duration { return paved.Duration(d) }
	f := func(v float64) *float64 { return &v }
	for _, tc := range []struct {
		name      string
		spec      paved.DeploymentSpec
		instances int
	}{
		{"empty", paved.DeploymentSpec{}, 3},
		{"every strategy", paved.DeploymentSpec{Strategy: paved.StrategyRecreate}, 1},
		{"blue_green keep_old", paved.DeploymentSpec{Strategy: paved.StrategyBlueGreen, KeepOld: dur(time.Minute)}, 2},
		{"max_in_flight count", paved.DeploymentSpec{MaxInFlight: "2"}, 3},
		{"max_in_flight more than the app", paved.DeploymentSpec{MaxInFlight: "10"}, 3},
		{"max_in_flight 1%", paved.DeploymentSpec{MaxInFlight: "1%"}, 3},
		{"max_in_flight 100%", paved.DeploymentSpec{MaxInFlight: "100%"}, 3},
		{"max_error_rate 0", paved.DeploymentSpec{Strategy: paved.StrategyCanary, MaxErrorRate: f(0)}, 3},
		{"max_error_rate 1", paved.DeploymentSpec{Strategy: paved.StrategyCanary, MaxErrorRate: f(1)}, 3},
		{"zero durations", paved.DeploymentSpec{MinHealthyTime: 0, KeepOld: 0, DrainTimeout: 0}, 3},
		{"progress_deadline positive", paved.DeploymentSpec{ProgressDeadline: ptr(dur(time.Nanosecond))}, 3},
		{"canary without steps", paved.DeploymentSpec{Strategy: paved.StrategyCanary}, 1},
		{"canary instances = app", paved.DeploymentSpec{Strategy: paved.StrategyCanary, Steps: []paved.CanaryStep{{Instances: 3}}}, 3},
		{"canary weight 1 and 100", paved.DeploymentSpec{Strategy: paved.StrategyCanary, Steps: []paved.CanaryStep{{Weight: 1}, {Weight: 100, Watch: dur(time.Second)}}}, 3},
		{"canary weight of an app without instances", paved.DeploymentSpec{Strategy: paved.StrategyCanary, Steps: []paved.CanaryStep{{Weight: 10}}}, 0},
		{"canary watch zero", paved.DeploymentSpec{Strategy: paved.StrategyCanary, Steps: []paved.CanaryStep{{Instances: 1, Watch: 0}}}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if errs := tc.spec.Validate(tc.instances); len(errs) > 0 {
				t.Fatalf("refused: %v", errs)
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
		{"0.5%", 3, 1},
		{"12.5%", 8, 1},
		{"12.6%", 8, 2},
	} {
		got, err := paved.ParseMaxInFlight(tc.v, tc.instances)
		if err != nil || got != tc.want {
			t.Errorf("ParseMaxInFlight(%q, %d) = %d, %v; want %d", tc.v, tc.instances, got, err, tc.want)
		}
	}
	// One grammar: plain decimal digits, no spaces, signs, exponents,
	// leading zeros or spellings strconv would take (" 3 " was accepted by
	// the cell's own copy).
	for _, v := range []string{"", "0", "-1", "+2", "02", " 3 ", " 2", "2 ", "abc", "1.5", "2x", "1e1", "0x10",
		"0%", "-10%", "+10%", "150%", "100.1%", "%", "2 %x", " 5%", "5 %", "5x%", ".5%", "5.%", "05%", "1e1%", "NaN%", "Inf%", "99999999999999999999"} {
		if got, err := paved.ParseMaxInFlight(v, 4); err == nil {
			t.Errorf("ParseMaxInFlight(%q, 4) = %d, want an error", v, got)
		}
		if paved.CheckMaxInFlight(v) == nil {
			t.Errorf("CheckMaxInFlight(%q) accepted what ParseMaxInFlight refuses", v)
		}
	}
}

func ptr[T any](v T) *T { return &v }
