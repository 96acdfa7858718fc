package provider

import (
	"context"
	"regexp"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
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

func mustRegexp(s string) *regexp.Regexp { return regexp.MustCompile(s) }
