// Package validators holds the plan-time checks of paved's Terraform
// schema. Each says in one sentence what is wrong, and the framework adds
// the attribute path.
package validators

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
)

var (
	dnsLabel = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	envName  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// stringCheck adapts a func to validator.String.
type stringCheck struct {
	desc  string
	check func(string) error
}

func (v stringCheck) Description(context.Context) string         { return v.desc }
func (v stringCheck) MarkdownDescription(context.Context) string { return v.desc }

func (v stringCheck) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if err := v.check(req.ConfigValue.ValueString()); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid value", err.Error())
	}
}

// Name checks a space or app name: a DNS label.
func Name() validator.String {
	return stringCheck{"a DNS label: 1 to 63 lowercase letters, digits and hyphens", CheckName}
}

// CheckName is Name as a plain function.
func CheckName(s string) error {
	if !dnsLabel.MatchString(s) {
		return fmt.Errorf("%q is not a valid name: use 1 to 63 lowercase letters, digits and hyphens, starting and ending with a letter or digit", s)
	}
	return nil
}

// Route checks "host" or "host/path".
func Route() validator.String {
	return stringCheck{`a route: "host" or "host/path"`, CheckRoute}
}

// CheckRoute is Route as a plain function.
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

// Host checks a host name, such as a replica set's global host.
func Host() validator.String {
	return stringCheck{"a host name: lowercase DNS labels separated by dots", CheckHost}
}

// CheckHost is Host as a plain function.
func CheckHost(s string) error {
	if !validHost(s) {
		return fmt.Errorf("%q is not a valid host name: use lowercase DNS labels separated by dots, e.g. \"donations.example.test\"", s)
	}
	return nil
}

// validHost is the router's rule for Host headers it serves.
func validHost(host string) bool {
	if host == "" || len(host) > 253 {
		return false
	}
	for _, label := range strings.Split(host, ".") {
		if !dnsLabel.MatchString(label) {
			return false
		}
	}
	return true
}

// Duration checks a Go duration string ("15s", "2m"); positive requires > 0.
func Duration(positive bool) validator.String {
	desc := "a duration such as \"15s\" or \"2m\""
	return stringCheck{desc, func(s string) error {
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
	}}
}

// MaxInFlight checks a count ("2") or a percentage ("25%").
func MaxInFlight() validator.String {
	return stringCheck{`a count such as "2" or a percentage such as "25%"`, func(s string) error {
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
	}}
}

// EnvNames checks the keys of an environment map.
func EnvNames() validator.Map {
	return envMap{}
}

type envMap struct{}

func (envMap) Description(context.Context) string { return "environment variable names" }
func (envMap) MarkdownDescription(ctx context.Context) string {
	return "environment variable names"
}

func (envMap) ValidateMap(_ context.Context, req validator.MapRequest, resp *validator.MapResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	for k := range req.ConfigValue.Elements() {
		switch {
		case !envName.MatchString(k):
			resp.Diagnostics.AddAttributeError(req.Path.AtMapKey(k), "Invalid environment variable name",
				fmt.Sprintf("%q is not a valid environment variable name: letters, digits and _, not starting with a digit", k))
		case k == "PORT" || strings.HasPrefix(k, "PAVED_"):
			resp.Diagnostics.AddAttributeError(req.Path.AtMapKey(k), "Reserved environment variable",
				fmt.Sprintf("%s is set by the cell and cannot be overridden", k))
		}
	}
}
