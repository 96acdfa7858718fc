package paved

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"
)

// The checks in this file are what an app's declaration must satisfy.
// The cell's API refuses an app by them (adding only what needs its store:
// the source was uploaded, the routes are free), and adapters that take
// user input (the Pulumi plugin's Check, the CLI) run them so that a bad
// input is refused at plan time, with the field and one sentence, the same
// way everywhere. The Terraform provider's validators (provider/validators)
// are adapters over these functions, so the rules have one home.

// Bounds of an app's spec.
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
// problem with its field, a JSON path of the API's wire form such as
// "routes[0].host" or "deployment.steps[0].weight"; the cell answers a
// refused write with the first of them.
// Zero values mean "not set" (the defaults apply), so the syntax of values
// users write as text (durations) is checked where they are parsed, with
// CheckDuration.
func (s AppSpec) Validate() []FieldError {
	var errs []FieldError
	fail := func(field, format string, args ...any) {
		errs = append(errs, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	if s.Name == "" {
		fail("name", "name is required: 1 to 63 lowercase letters, digits and hyphens")
	} else if err := CheckName(s.Name); err != nil {
		fail("name", "%v", err)
	}
	if s.Source != "" && !IsDigest(s.Source) {
		fail("source", "source must be the sha256 (64 lowercase hex digits) of an uploaded archive")
	}
	if strings.TrimSpace(s.Command) == "" {
		fail("command", "command is required: the shell command that starts one instance and listens on $PORT")
	}
	if err := checkInstances(s.Instances); err != nil {
		fail("instances", "%v", err)
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
		if r.Host == "" {
			fail(field+".host", "a route needs a host, e.g. \"web.example.test\"")
			continue
		}
		if err := CheckHost(r.Host); err != nil {
			fail(field+".host", "%v", err)
			continue
		}
		if r.Path != "" && !strings.HasPrefix(r.Path, "/") {
			fail(field+".path", "a route path must start with /, not %q", r.Path)
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
		if hc.Interval > 0 && hc.Timeout > hc.Interval {
			fail("health_check.timeout", "health_check.timeout (%s) must not exceed the interval (%s): a check ends before the next one starts", hc.Timeout, hc.Interval)
		}
	}
	if d := s.Deployment; d != nil {
		for _, e := range d.Validate(s.Instances) {
			fail("deployment."+e.Field, "%s", e.Message)
		}
	}
	return errs
}

var digestRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// IsDigest reports whether s names a source archive: the sha256 of its
// bytes as 64 lowercase hex digits.
func IsDigest(s string) bool { return digestRE.MatchString(s) }

// AppFieldDependencies lists the other fields of an app's spec that
// Validate's verdict at field depends on ("deployment.keep_old" depends on
// "deployment.strategy"). A front end that does not know one of them yet
// (another resource's output, at plan time) cannot judge field either, and
// leaves it to the cell.
func AppFieldDependencies(field string) []string {
	var deps []string
	switch {
	case strings.HasPrefix(field, "deployment.steps"), field == "deployment.keep_old",
		field == "deployment.max_error_rate", field == "deployment.min_requests":
		deps = append(deps, "deployment.strategy")
	case field == "health_check.path":
		deps = append(deps, "health_check.type")
	case field == "health_check.timeout":
		deps = append(deps, "health_check.interval")
	case strings.HasPrefix(field, "secret_env."):
		deps = append(deps, "env")
	}
	if strings.HasPrefix(field, "deployment.steps[") && strings.HasSuffix(field, ".instances") {
		deps = append(deps, "instances")
	}
	return deps
}
