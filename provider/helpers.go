package provider

import (
	"context"
	"errors"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

type diagnostics = diag.Diagnostics

// configGetter reads one attribute of a config (tfsdk.Config).
type configGetter interface {
	GetAttribute(ctx context.Context, p path.Path, target any) diag.Diagnostics
}

// stateSetter writes a whole state (tfsdk.State).
type stateSetter interface {
	Set(ctx context.Context, val any) diag.Diagnostics
}

// asAPIError unwraps a cell's API error.
func asAPIError(err error) (*paved.APIError, bool) {
	var apiErr *paved.APIError
	ok := errors.As(err, &apiErr)
	return apiErr, ok
}
