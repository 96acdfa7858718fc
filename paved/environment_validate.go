package paved

import (
	"fmt"
	"maps"
	"slices"
	"time"
)

// TTL bounds of an environment (and of a pipeline's environment step).
const (
	MinEnvironmentTTL = time.Second
	MaxEnvironmentTTL = 30 * 24 * time.Hour
)

// Validate checks an environment's spec without calling a cell and
// returns every problem with its field ("ttl", "overrides.web.instances").
// The cell refuses an environment by it, adding only what needs its store
// (the space to clone and its apps exist, override sources were uploaded);
// the front ends run it at plan time, with the source as a path where the
// wire form has its digest.
func (s EnvironmentSpec) Validate() []FieldError {
	var errs fieldErrors
	if err := CheckName(s.Name); err != nil {
		errs.fail("name", "%v", err)
	}
	if s.FromSpace == "" {
		errs.fail("from_space", "from_space is required: the space the environment clones")
	} else if err := CheckName(s.FromSpace); err != nil {
		errs.fail("from_space", "%v", err)
	}
	if ttl := s.TTL.D(); ttl < MinEnvironmentTTL || ttl > MaxEnvironmentTTL {
		errs.fail("ttl", "ttl must be between %s and %s, not %s", MinEnvironmentTTL, MaxEnvironmentTTL, s.TTL)
	}
	for _, app := range slices.Sorted(maps.Keys(s.Overrides)) {
		at := "overrides." + app
		if err := CheckName(app); err != nil {
			errs.fail(at, "overrides are by app name: %v", err)
		}
		o := s.Overrides[app]
		if o.Source != "" && !IsDigest(o.Source) {
			errs.fail(at+".source", "source must be the sha256 (64 lowercase hex digits) of an uploaded archive")
		}
		if o.Instances != nil {
			if err := checkInstances(*o.Instances); err != nil {
				errs.fail(at+".instances", "%v", err)
			}
		}
		for _, k := range slices.Sorted(maps.Keys(o.Env)) {
			if err := CheckEnvName(k); err != nil {
				errs.fail(at+".env."+k, "%v", err)
			}
		}
	}
	return errs
}

// checkInstances checks an app's instance count, declared or overridden.
func checkInstances(n int) error {
	if n < 0 || n > MaxAppInstances {
		return fmt.Errorf("instances must be between 0 and %d, not %d", MaxAppInstances, n)
	}
	return nil
}
