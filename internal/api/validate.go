package api

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/pavedroad/terraform-provider-paved/internal/deploy"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

var (
	dnsLabel = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	envName  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	digestRE = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// Bounds a spec must stay within.
const (
	MaxInstances = 256
	MaxMemoryMB  = 1 << 20
)

// validName checks a space or app name: a DNS label, so it can appear in
// hostnames, process names and file names without escaping.
func validName(field, name string) error {
	if name == "" {
		return invalid(field, "%s is required", field)
	}
	if !dnsLabel.MatchString(name) {
		return invalid(field, "%q is not a valid name: use 1 to 63 lowercase letters, digits and hyphens, starting and ending with a letter or digit", name)
	}
	return nil
}

func validateSpace(spec paved.SpaceSpec) error {
	if err := validName("name", spec.Name); err != nil {
		return err
	}
	for k := range spec.Labels {
		if k == "" || len(k) > 63 {
			return invalid("labels", "label keys must be 1 to 63 characters long")
		}
	}
	return nil
}

// validateApp checks everything that can be checked without the store.
func validateApp(spec paved.AppSpec) error {
	if err := validName("name", spec.Name); err != nil {
		return err
	}
	if spec.Source != "" && !digestRE.MatchString(spec.Source) {
		return invalid("source", "source must be the sha256 (64 lowercase hex digits) of an uploaded archive")
	}
	if strings.TrimSpace(spec.Command) == "" {
		return invalid("command", "command is required: the shell command that starts one instance and listens on $PORT")
	}
	if spec.Instances < 0 || spec.Instances > MaxInstances {
		return invalid("instances", "instances must be between 0 and %d, not %d", MaxInstances, spec.Instances)
	}
	if spec.MemoryMB < 0 || spec.MemoryMB > MaxMemoryMB {
		return invalid("memory_mb", "memory_mb must be between 0 (no limit) and %d", MaxMemoryMB)
	}
	if err := validateEnv("env", spec.Env); err != nil {
		return err
	}
	if err := validateEnv("secret_env", spec.SecretEnv); err != nil {
		return err
	}
	for k := range spec.SecretEnv {
		if _, ok := spec.Env[k]; ok {
			return invalid("secret_env."+k, "%s is in both env and secret_env; keep it in one", k)
		}
	}
	if err := validateHealthCheck(spec.HealthCheck); err != nil {
		return err
	}
	if field, err := deploy.Validate(spec.Deployment, spec.Instances); err != nil {
		return invalid("deployment."+field, "deployment.%s: %v", field, err)
	}
	return validateRoutes(spec.Routes)
}

func validateHealthCheck(hc *paved.HealthCheck) error {
	if hc == nil {
		return nil
	}
	switch hc.Type {
	case paved.HealthHTTP, paved.HealthTCP, paved.HealthProcess:
	case "":
		return invalid("health_check.type", "health_check.type is required: http, tcp or process")
	default:
		return invalid("health_check.type", "health_check.type must be http, tcp or process, not %q", hc.Type)
	}
	if hc.Path != "" && hc.Type != paved.HealthHTTP {
		return invalid("health_check.path", "health_check.path only applies to http checks")
	}
	if hc.Path != "" && !strings.HasPrefix(hc.Path, "/") {
		return invalid("health_check.path", "health_check.path must start with /")
	}
	for _, d := range []struct {
		name string
		v    paved.Duration
	}{{"interval", hc.Interval}, {"timeout", hc.Timeout}, {"grace", hc.Grace}} {
		if d.v < 0 {
			return invalid("health_check."+d.name, "health_check.%s must not be negative", d.name)
		}
	}
	if hc.Interval > 0 && hc.Timeout > hc.Interval {
		return invalid("health_check.timeout", "health_check.timeout (%s) must not exceed the interval (%s)", hc.Timeout, hc.Interval)
	}
	return nil
}

func validateRoutes(routes []paved.Route) error {
	seen := map[paved.Route]bool{}
	for i, r := range routes {
		field := fmt.Sprintf("routes[%d]", i)
		if err := validHost(field+".host", r.Host); err != nil {
			return err
		}
		if r.Path != "" && !strings.HasPrefix(r.Path, "/") {
			return invalid(field+".path", "a route path must start with /, not %q", r.Path)
		}
		key := paved.Route{Host: r.Host, Path: normalPath(r.Path)}
		if seen[key] {
			return invalid(field, "route %s is listed twice", r)
		}
		seen[key] = true
	}
	return nil
}

func validHost(field, host string) error {
	if host == "" {
		return invalid(field, "a route needs a host")
	}
	if len(host) > 253 {
		return invalid(field, "host %q is longer than 253 characters", host)
	}
	for _, label := range strings.Split(host, ".") {
		if !dnsLabel.MatchString(label) {
			return invalid(field, "%q is not a valid host name: lowercase DNS labels separated by dots", host)
		}
	}
	return nil
}

// normalPath is the path prefix a route matches as the router sees it
// (router.normalizePrefix): trailing slashes do not count, so "", "/" and
// "//" are one route, as are "/api", "/api/" and "/api//". Two routes with
// the same host and normalPath are the same route to the router, which
// would give it to only one of the apps claiming it.
func normalPath(p string) string {
	return strings.TrimRight(p, "/")
}

func validateEnv(field string, env map[string]string) error {
	for k := range env {
		if !envName.MatchString(k) {
			return invalid(field+"."+k, "%q is not a valid environment variable name", k)
		}
		if k == "PORT" || strings.HasPrefix(k, "PAVED_") {
			return invalid(field+"."+k, "%s is set by the cell and cannot be overridden", k)
		}
	}
	return nil
}
