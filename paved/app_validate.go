package paved

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"
)

// The checks in this file are what an app's declaration must satisfy
// before any cell is called. Adapters that take user input (the Pulumi
// plugin's Check, the CLI) run them so that a bad input is refused at
// plan time, with the field and one sentence, the same way everywhere.
// The Terraform provider's validators (provider/validators) are adapters
// over these functions, so the rules have one home.

// Bounds of an app's spec (the cell enforces the same).
const (
	MaxAppInstances = 256
	MaxAppMemoryMB  = 1 << 20
)

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// CheckName checks a space or app name: a DNS label.
func CheckName(s string) error {
	if !isDNSLabel(s) {
		return fmt.Errorf("%q is not a valid name: use 1 to 63 lowercase letters, digits and hyphens, starting and ending with a letter or digit", s)
	}
	return nil
}

// CheckHost checks a host name, such as a replica set's global host.
func CheckHost(s string) error {
	if !validHost(s) {
		return fmt.Errorf("%q is not a valid host name: use lowercase DNS labels separated by dots, e.g. \"donations.example.test\"", s)
	}
	return nil
}

// CheckRoute checks a route as users write it: "host" or "host/path".
func CheckRoute(s string) error {
	host, _, _ := strings.Cut(s, "/")
	if host == "" {
		return fmt.Errorf("route %q needs a host, e.g. \"web.example.test\" or \"web.example.test/api\"", s)
	}
	if !validHost(host) {
		return fmt.Errorf("route %q: %q is not a valid host name (lowercase DNS labels separated by dots)", s, host)
	}
	return nil
}

// ParseRoute reads "host" or "host/path" (see Route.String).
func ParseRoute(s string) Route {
	host, path, _ := strings.Cut(s, "/")
	r := Route{Host: host}
	if path != "" {
		r.Path = "/" + path
	}
	return r
}

// validHost is the router's rule for the Host headers it serves.
func validHost(host string) bool {
	if host == "" || len(host) > 253 {
		return false
	}
	for _, label := range strings.Split(host, ".") {
		if !isDNSLabel(label) {
			return false
		}
	}
	return true
}

// CheckDuration checks a duration as users write it ("15s", "2m");
// positive requires more than zero, otherwise zero is allowed.
func CheckDuration(s string, positive bool) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration; write it like \"500ms\", \"15s\" or \"2m\"", s)
	}
	if d < 0 || positive && d == 0 {
		want := "zero or more"
		if positive {
			want = "more than zero"
		}
		return fmt.Errorf("%q must be %s", s, want)
	}
	return nil
}

// CheckMaxInFlight checks a rolling deploy's max_in_flight: a count ("2")
// or a percentage ("25%").
func CheckMaxInFlight(s string) error {
	if pct, ok := strings.CutSuffix(s, "%"); ok {
		var p float64
		if _, err := fmt.Sscanf(pct, "%g", &p); err != nil || p <= 0 || p > 100 {
			return fmt.Errorf("%q is not a percentage between 1%% and 100%%", s)
		}
		return nil
	}
	var n int
	if _, err := fmt.Sscanf(s, "%d", &n); err != nil || n < 1 || fmt.Sprint(n) != s {
		return fmt.Errorf("%q must be a count of at least 1 or a percentage such as \"25%%\"", s)
	}
	return nil
}

// CheckEnvName checks the name of an environment variable an app sets.
func CheckEnvName(k string) error {
	switch {
	case !envNameRE.MatchString(k):
		return fmt.Errorf("%q is not a valid environment variable name: letters, digits and _, not starting with a digit", k)
	case k == "PORT" || strings.HasPrefix(k, "PAVED_"):
		return fmt.Errorf("%s is set by the cell and cannot be overridden", k)
	}
	return nil
}

// Validate checks an app's spec without calling a cell and returns every
// problem with its field, a JSON path such as "deployment.steps[0].weight".
// Zero values mean "not set" (the defaults apply), so the syntax of values
// users write as text (durations) is checked where they are parsed, with
// CheckDuration.
func (s AppSpec) Validate() []FieldError {
	var errs []FieldError
	fail := func(field, format string, args ...any) {
		errs = append(errs, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	if err := CheckName(s.Name); err != nil {
		fail("name", "%v", err)
	}
	if s.Source != "" && !isDigest(s.Source) {
		fail("source", "source must be the sha256 (64 lowercase hex digits) of an uploaded archive")
	}
	if strings.TrimSpace(s.Command) == "" {
		fail("command", "command is required: the shell command that starts one instance and listens on $PORT")
	}
	if s.Instances < 0 || s.Instances > MaxAppInstances {
		fail("instances", "instances must be between 0 and %d, not %d", MaxAppInstances, s.Instances)
	}
	if s.MemoryMB < 0 || s.MemoryMB > MaxAppMemoryMB {
		fail("memory_mb", "memory_mb must be between 0 (no limit) and %d, not %d", MaxAppMemoryMB, s.MemoryMB)
	}
	for _, k := range slices.Sorted(maps.Keys(s.Env)) {
		if err := CheckEnvName(k); err != nil {
			fail("env."+k, "%v", err)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(s.SecretEnv)) {
		if err := CheckEnvName(k); err != nil {
			fail("secret_env."+k, "%v", err)
		} else if _, ok := s.Env[k]; ok {
			fail("secret_env."+k, "%s is in both env and secret_env; keep it in one", k)
		}
	}
	seen := map[Route]int{}
	for i, r := range s.Routes {
		field := fmt.Sprintf("routes[%d]", i)
		if err := CheckRoute(r.String()); err != nil {
			fail(field, "%v", err)
			continue
		}
		if r.Path != "" && !strings.HasPrefix(r.Path, "/") {
			fail(field, "a route path must start with /, not %q", r.Path)
			continue
		}
		// Trailing slashes do not count, as in the router ("/api//" is "/api").
		key := Route{Host: r.Host, Path: strings.TrimRight(r.Path, "/")}
		if first, dup := seen[key]; dup {
			fail(field, "route %s is listed twice (also routes[%d])", r, first)
		}
		seen[key] = i
	}
	if hc := s.HealthCheck; hc != nil {
		switch hc.Type {
		case HealthHTTP, HealthTCP, HealthProcess:
		case "":
			fail("health_check.type", "health_check needs a type: http, tcp or process")
		default:
			fail("health_check.type", "health_check.type must be http, tcp or process, not %q", hc.Type)
		}
		if hc.Path != "" && hc.Type != HealthHTTP {
			fail("health_check.path", "health_check.path only applies when type is \"http\"")
		} else if hc.Path != "" && !strings.HasPrefix(hc.Path, "/") {
			fail("health_check.path", "health_check.path must start with /, not %q", hc.Path)
		}
		for _, d := range []struct {
			name string
			v    Duration
		}{{"interval", hc.Interval}, {"timeout", hc.Timeout}, {"grace", hc.Grace}} {
			if d.v < 0 {
				fail("health_check."+d.name, "health_check.%s must not be negative", d.name)
			}
		}
	}
	if d := s.Deployment; d != nil {
		validateDeployment(d, fail)
	}
	return errs
}

func validateDeployment(d *DeploymentSpec, fail func(field, format string, args ...any)) {
	switch d.Strategy {
	case "", StrategyRolling, StrategyCanary, StrategyBlueGreen, StrategyRecreate:
	default:
		fail("deployment.strategy", "strategy %q is not one of rolling, canary, blue_green or recreate", d.Strategy)
	}
	if d.MaxInFlight != "" {
		if err := CheckMaxInFlight(d.MaxInFlight); err != nil {
			fail("deployment.max_in_flight", "%v", err)
		}
	}
	for _, v := range []struct {
		name string
		d    Duration
	}{{"min_healthy_time", d.MinHealthyTime}, {"drain_timeout", d.DrainTimeout}, {"keep_old", d.KeepOld}} {
		if v.d < 0 {
			fail("deployment."+v.name, "%s must not be negative", v.name)
		}
	}
	if d.ProgressDeadline != nil && *d.ProgressDeadline <= 0 {
		fail("deployment.progress_deadline", "progress_deadline must be more than zero, not %s", *d.ProgressDeadline)
	}
	if d.KeepOld != 0 && d.Strategy != StrategyBlueGreen {
		fail("deployment.keep_old", "keep_old only applies when strategy = \"blue_green\"")
	}
	canary := len(d.Steps) > 0 || d.MaxErrorRate != nil || d.MinRequests != 0
	if canary && d.Strategy != StrategyCanary {
		fail("deployment.steps", "canary settings only apply when strategy = \"canary\", not %q", d.Strategy)
	}
	for i, st := range d.Steps {
		f := fmt.Sprintf("deployment.steps[%d]", i)
		switch {
		case st.Instances != 0 && st.Weight != 0:
			fail(f, "a canary step sets instances or weight, not both")
		case st.Instances == 0 && (st.Weight < 1 || st.Weight > 100):
			fail(f+".weight", "a canary step's weight is a percentage of traffic between 1 and 100, not %d", st.Weight)
		case st.Instances < 0:
			fail(f+".instances", "a canary step's instances must be at least 1")
		}
		if st.Watch < 0 {
			fail(f+".watch", "watch must not be negative")
		}
	}
	if d.MaxErrorRate != nil && (*d.MaxErrorRate < 0 || *d.MaxErrorRate > 1) {
		fail("deployment.max_error_rate", "max_error_rate is a fraction between 0 and 1 (0.05 = 5%%), not %g", *d.MaxErrorRate)
	}
	if d.MinRequests < 0 {
		fail("deployment.min_requests", "min_requests must be at least 1, not %d", d.MinRequests)
	}
}

var digestRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

func isDigest(s string) bool { return digestRE.MatchString(s) }
