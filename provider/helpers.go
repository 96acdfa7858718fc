package provider

import (
	"context"
	"errors"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"

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

// typedTimeouts gives a timeouts block read as null (no block in the
// state: an import) its typed null, which the state must hold.
func typedTimeouts(ctx context.Context, t *timeouts.Value) {
	if t.IsNull() {
		*t = timeouts.Value{Object: types.ObjectNull(t.AttributeTypes(ctx))}
	}
}

// asAPIError unwraps a cell's API error.
func asAPIError(err error) (*paved.APIError, bool) {
	var apiErr *paved.APIError
	ok := errors.As(err, &apiErr)
	return apiErr, ok
}

// removeGone drops a resource deleted outside from the state, so the plan
// creates it again. A resource with an identity keeps it set: the
// framework fails a read that ends without one, and a CLI that sends none
// (Terraform before 1.12) would otherwise fail the refresh.
func removeGone(ctx context.Context, resp *resource.ReadResponse, identity any) {
	if identity != nil && resp.Identity != nil {
		resp.Diagnostics.Append(resp.Identity.Set(ctx, identity)...)
	}
	resp.State.RemoveResource(ctx)
}
