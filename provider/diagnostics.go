package provider

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// addError turns a library error into a diagnostic, built in one place: an
// API error about a field points at the matching attribute.
func addError(diags *diag.Diagnostics, summary string, err error) {
	var apiErr *paved.APIError
	if errors.As(err, &apiErr) && apiErr.Field != "" {
		if p, ok := attributePath(apiErr.Field); ok {
			diags.AddAttributeError(p, summary, apiErr.Message)
			return
		}
	}
	diags.AddError(summary, err.Error())
}

// attributePath maps an API field ("health_check.type", "routes[0].host",
// "deployment.steps[1].weight") to the resource attribute it came from.
func attributePath(field string) (path.Path, bool) {
	head, rest, _ := strings.Cut(field, ".")
	name, index, indexed := strings.Cut(head, "[")
	switch name {
	case "name", "command", "build", "instances", "memory_mb", "source":
		return path.Root(name), true
	case "env", "secret_env":
		if rest != "" {
			return path.Root(name).AtMapKey(rest), true
		}
		return path.Root(name), true
	case "routes":
		var i int
		if indexed {
			fmt.Sscanf(index, "%d]", &i)
			return path.Root("routes").AtListIndex(i), true
		}
		return path.Root("routes"), true
	case "health_check":
		if rest != "" {
			return path.Root("health_check").AtName(rest), true
		}
		return path.Root("health_check"), true
	case "deployment":
		if rest != "" {
			if strings.HasPrefix(rest, "steps") || rest == "max_error_rate" || rest == "min_requests" {
				return path.Root("deployment").AtName("canary"), true
			}
			return path.Root("deployment").AtName(rest), true
		}
		return path.Root("deployment"), true
	}
	return path.Empty(), false
}
