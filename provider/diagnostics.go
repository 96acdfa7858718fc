package provider

import (
	"errors"

	"github.com/hashicorp/terraform-plugin-framework/diag"

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
