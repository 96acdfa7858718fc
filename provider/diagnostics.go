package provider

import (
	"errors"
	"slices"
	"strconv"
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

// fieldPath maps a field of the library's vocabulary ("regions[1]",
// "jobs[1].plan[0].passed[2]", "overrides.web.env.KEY") to the attribute
// path it names, the one parse of that grammar for every resource. rename
// gives the schema's name of a library name ("" drops the part: it is no
// attribute of its own); a part named in mapKeys takes the next part of the
// field as its map key.
func fieldPath(field string, rename map[string]string, mapKeys ...string) path.Path {
	p := path.Empty()
	parts := strings.Split(field, ".")
	for i := 0; i < len(parts); i++ {
		name, idx, indexed := strings.Cut(parts[i], "[")
		keyed := slices.Contains(mapKeys, name)
		if to, ok := rename[name]; ok {
			if name = to; name == "" {
				continue
			}
		}
		p = p.AtName(name)
		if indexed {
			n, _ := strconv.Atoi(strings.TrimSuffix(idx, "]"))
			p = p.AtListIndex(n)
		}
		if keyed && i+1 < len(parts) {
			i++
			p = p.AtMapKey(parts[i])
		}
	}
	return p
}
