package deploy

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// Defaults of a deployment spec.
const (
	DefaultMaxInFlight      = "25%"
	DefaultMaxErrorRate     = 0.05
	DefaultMinRequests      = 20
	DefaultProgressDeadline = 10 * time.Minute
	DefaultDrainTimeout     = 10 * time.Second
	DefaultCanaryWatch      = 30 * time.Second
)

// Strategy is a deployment spec with every default filled in.
type Strategy struct {
	Kind             string
	MaxInFlight      string
	MinHealthyTime   time.Duration
	Steps            []paved.CanaryStep
	MaxErrorRate     float64
	MinRequests      int
	KeepOld          time.Duration
	ProgressDeadline time.Duration
	AutoRollback     bool
	DrainTimeout     time.Duration
}

// Resolve fills the defaults of a spec (nil = all defaults).
func Resolve(s *paved.DeploymentSpec) Strategy {
	var in paved.DeploymentSpec
	if s != nil {
		in = *s
	}
	out := Strategy{
		Kind:           in.Strategy,
		MaxInFlight:    in.MaxInFlight,
		MinHealthyTime: in.MinHealthyTime.D(),
		Steps:          slices.Clone(in.Steps),
		MaxErrorRate:   DefaultMaxErrorRate,
		MinRequests:    in.MinRequests,
		KeepOld:        in.KeepOld.D(),
		AutoRollback:   in.AutoRollback == nil || *in.AutoRollback,
		DrainTimeout:   in.DrainTimeout.D(),
	}
	if out.Kind == "" {
		out.Kind = paved.StrategyRolling
	}
	if out.MaxInFlight == "" {
		out.MaxInFlight = DefaultMaxInFlight
	}
	if in.MaxErrorRate != nil {
		out.MaxErrorRate = *in.MaxErrorRate
	}
	if out.MinRequests == 0 {
		out.MinRequests = DefaultMinRequests
	}
	out.ProgressDeadline = DefaultProgressDeadline
	if in.ProgressDeadline != nil {
		out.ProgressDeadline = in.ProgressDeadline.D()
	}
	if out.DrainTimeout == 0 {
		out.DrainTimeout = DefaultDrainTimeout
	}
	for i := range out.Steps {
		if out.Steps[i].Watch == 0 {
			out.Steps[i].Watch = paved.Duration(DefaultCanaryWatch)
		}
	}
	if out.Kind == paved.StrategyCanary && len(out.Steps) == 0 {
		out.Steps = []paved.CanaryStep{{Instances: 1, Watch: paved.Duration(DefaultCanaryWatch)}}
	}
	return out
}

// ParseMaxInFlight reads "3" or "25%" against an instance count. A
// percentage rounds up and is at least 1, so a rollout always progresses.
func ParseMaxInFlight(v string, instances int) (int, error) {
	v = strings.TrimSpace(v)
	if pct, ok := strings.CutSuffix(v, "%"); ok {
		p, err := strconv.ParseFloat(pct, 64)
		if err != nil || p <= 0 || p > 100 {
			return 0, fmt.Errorf("%q is not a percentage between 1%% and 100%%", v)
		}
		return max(1, int(math.Ceil(float64(instances)*p/100))), nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%q must be a count of at least 1 or a percentage such as \"25%%\"", v)
	}
	return n, nil
}

// Validate checks a deployment spec against an app's instance count and
// returns the offending field (relative to "deployment") with the problem.
func Validate(s *paved.DeploymentSpec, instances int) (field string, err error) {
	if s == nil {
		return "", nil
	}
	switch s.Strategy {
	case "", paved.StrategyRolling, paved.StrategyCanary, paved.StrategyBlueGreen, paved.StrategyRecreate:
	default:
		return "strategy", fmt.Errorf("unknown strategy %q: use rolling, canary, blue_green or recreate", s.Strategy)
	}
	if s.MaxInFlight != "" {
		if _, err := ParseMaxInFlight(s.MaxInFlight, instances); err != nil {
			return "max_in_flight", err
		}
	}
	if s.MaxErrorRate != nil && (*s.MaxErrorRate < 0 || *s.MaxErrorRate > 1) {
		return "max_error_rate", fmt.Errorf("max_error_rate is a fraction between 0 and 1 (0.05 = 5%%), not %g", *s.MaxErrorRate)
	}
	if s.MinRequests < 0 {
		return "min_requests", fmt.Errorf("min_requests must not be negative")
	}
	for name, d := range map[string]paved.Duration{"min_healthy_time": s.MinHealthyTime, "keep_old": s.KeepOld, "drain_timeout": s.DrainTimeout} {
		if d < 0 {
			return name, fmt.Errorf("%s must not be negative", name)
		}
	}
	if s.ProgressDeadline != nil && *s.ProgressDeadline <= 0 {
		return "progress_deadline", fmt.Errorf("progress_deadline must be positive, not %s", *s.ProgressDeadline)
	}
	if len(s.Steps) > 0 && s.Strategy != paved.StrategyCanary {
		return "steps", fmt.Errorf("steps only apply to the canary strategy")
	}
	for i, st := range s.Steps {
		f := fmt.Sprintf("steps[%d]", i)
		switch {
		case st.Instances != 0 && st.Weight != 0:
			return f, fmt.Errorf("a canary step sets instances or weight, not both")
		case st.Instances == 0 && st.Weight == 0:
			return f, fmt.Errorf("a canary step needs instances (a count) or weight (a percentage of traffic)")
		case st.Instances < 0:
			return f + ".instances", fmt.Errorf("instances must be at least 1")
		case st.Instances > instances:
			return f + ".instances", fmt.Errorf("a canary of %d instances is more than the app's %d instances", st.Instances, instances)
		case st.Weight < 0 || st.Weight > 100:
			return f + ".weight", fmt.Errorf("weight is a percentage of traffic between 1 and 100, not %d", st.Weight)
		case st.Watch < 0:
			return f + ".watch", fmt.Errorf("watch must not be negative")
		}
	}
	return "", nil
}
