package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/diag"
)

// importedKey marks, in a resource's private state, a resource imported
// and not applied since. The first apply after an import adopts what runs:
// a write-only value's version the configuration sets (secret_env_version,
// webhook_secrets_wo_version) is taken as the version of the values the
// cell already has, recorded without sending them, so adopting a running
// app rolls out nothing. Only a later change of the version sends them.
const importedKey = "imported"

// privateState is a resource's private state (the framework's
// *privatestate.ProviderData of a request or response).
type privateState interface {
	GetKey(ctx context.Context, key string) ([]byte, diag.Diagnostics)
	SetKey(ctx context.Context, key string, value []byte) diag.Diagnostics
}

// markImported notes an import in the private state.
func markImported(ctx context.Context, p privateState, diags *diagnostics) {
	diags.Append(p.SetKey(ctx, importedKey, []byte("true"))...)
}

// imported tells whether the resource was imported and not applied since.
func imported(ctx context.Context, p privateState) bool {
	if p == nil {
		return false
	}
	v, _ := p.GetKey(ctx, importedKey)
	return string(v) == "true"
}

// applied forgets the import once an apply succeeded.
func applied(ctx context.Context, p privateState, diags *diagnostics) {
	if p != nil && imported(ctx, p) {
		diags.Append(p.SetKey(ctx, importedKey, nil)...)
	}
}
