package paved

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// The one grammar of max_in_flight: a count in plain decimal digits, or a
// percentage in plain decimal digits with an optional fraction, then "%".
// No spaces, signs, exponents or leading zeros.
var (
	maxInFlightCount   = regexp.MustCompile(`^[1-9][0-9]*$`)
	maxInFlightPercent = regexp.MustCompile(`^(0|[1-9][0-9]*)(\.[0-9]+)?$`)
)

// ParseMaxInFlight reads a rolling deploy's max_in_flight against an app's
// instance count: a count ("3", not capped by the instance count) or a
// percentage of the instances ("25%", "12.5%"), which rounds up and is at
// least 1, so a rollout always progresses. The validators refuse exactly
// what it refuses, and the cell's planner runs what it returns.
func ParseMaxInFlight(v string, instances int) (int, error) {
	if pct, ok := strings.CutSuffix(v, "%"); ok {
		p, err := strconv.ParseFloat(pct, 64)
		if !maxInFlightPercent.MatchString(pct) || err != nil || p <= 0 || p > 100 {
			return 0, fmt.Errorf("%q is not a percentage between 1%% and 100%%", v)
		}
		return max(1, int(math.Ceil(float64(instances)*p/100))), nil
	}
	n, err := strconv.Atoi(v)
	if !maxInFlightCount.MatchString(v) || err != nil {
		return 0, fmt.Errorf("%q must be a count of at least 1 or a percentage such as \"25%%\"", v)
	}
	return n, nil
}

// CheckMaxInFlight checks a rolling deploy's max_in_flight: a count ("2")
// or a percentage ("25%").
func CheckMaxInFlight(s string) error {
	_, err := ParseMaxInFlight(s, 1)
	return err
}

// Validate checks an app's deployment block against the app's instance
// count and returns every problem with its field relative to the block
// ("strategy", "steps[1].instances"); AppSpec.Validate reports them under
// "deployment.".
func (d DeploymentSpec) Validate(instances int) []FieldError {
	var errs []FieldError
	fail := func(field, format string, args ...any) {
		errs = append(errs, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	strategy := fmt.Sprintf("%q", d.Strategy)
	switch d.Strategy {
	case "":
		strategy = `"rolling" (the default)`
	case StrategyRolling, StrategyCanary, StrategyBlueGreen, StrategyRecreate:
	default:
		fail("strategy", "strategy %q is not one of rolling, canary, blue_green or recreate", d.Strategy)
	}
	if d.MaxInFlight != "" {
		if _, err := ParseMaxInFlight(d.MaxInFlight, instances); err != nil {
			fail("max_in_flight", "%v", err)
		}
	}
	for _, v := range []struct {
		name string
		d    Duration
	}{{"min_healthy_time", d.MinHealthyTime}, {"drain_timeout", d.DrainTimeout}, {"keep_old", d.KeepOld}} {
		if v.d < 0 {
			fail(v.name, "%s must not be negative", v.name)
		}
	}
	if d.ProgressDeadline != nil && *d.ProgressDeadline <= 0 {
		fail("progress_deadline", "progress_deadline must be more than zero, not %s", *d.ProgressDeadline)
	}
	if d.KeepOld != 0 && d.Strategy != StrategyBlueGreen {
		fail("keep_old", "keep_old only applies when strategy = \"blue_green\", not %s", strategy)
	}
	if d.Strategy != StrategyCanary {
		for _, v := range []struct {
			name string
			set  bool
		}{{"steps", len(d.Steps) > 0}, {"max_error_rate", d.MaxErrorRate != nil}, {"min_requests", d.MinRequests != 0}} {
			if v.set {
				fail(v.name, "canary settings (%s) only apply when strategy = \"canary\", not %s", v.name, strategy)
			}
		}
	}
	for i, st := range d.Steps {
		f := fmt.Sprintf("steps[%d]", i)
		switch {
		case st.Instances != 0 && st.Weight != 0:
			fail(f, "a canary step sets instances or weight, not both")
		case st.Instances == 0 && st.Weight == 0:
			fail(f, "a canary step needs instances (a count) or weight (a percentage of traffic)")
		case st.Instances < 0:
			fail(f+".instances", "a canary step's instances must be at least 1, not %d", st.Instances)
		case st.Instances > 0 && st.Instances > instances:
			fail(f+".instances", "a canary of %d instances is more than the app's %d instances", st.Instances, instances)
		case st.Weight < 0 || st.Weight > 100:
			fail(f+".weight", "a canary step's weight is a percentage of traffic between 1 and 100, not %d", st.Weight)
		}
		if st.Watch < 0 {
			fail(f+".watch", "watch must not be negative")
		}
	}
	if d.MaxErrorRate != nil && (*d.MaxErrorRate < 0 || *d.MaxErrorRate > 1) {
		fail("max_error_rate", "max_error_rate is a fraction between 0 and 1 (0.05 = 5%%), not %g", *d.MaxErrorRate)
	}
	if d.MinRequests < 0 {
		fail("min_requests", "min_requests must be at least 1, not %d", d.MinRequests)
	}
	return errs
}
