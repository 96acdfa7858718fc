package deploy

import (
	"slices"
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
