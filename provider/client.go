package provider

import (
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/diag"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// clientFrom takes the client the provider configured (nil before then).
func clientFrom(data any, diags *diag.Diagnostics) *paved.Client {
	if data == nil {
		return nil
	}
	c, ok := data.(*paved.Client)
	if !ok {
		diags.AddError("Unexpected provider data", fmt.Sprintf("expected *paved.Client, got %T; this is a bug in the provider", data))
		return nil
	}
	return c
}
