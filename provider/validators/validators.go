// Package validators holds the plan-time checks of paved's Terraform
// schema. Each says in one sentence what is wrong, and the framework adds
// the attribute path.
package validators

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/pavedroad/terraform-provider-paved/paved"
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

// The rules themselves live in the paved library (paved/app_validate.go),
// so the Terraform provider, the Pulumi plugin and the CLI refuse the same
// inputs with the same sentence; the validators here adapt them to the
// framework, which adds the attribute path.

// Name checks a space or app name: a DNS label.
func Name() validator.String {
	return stringCheck{"a DNS label: 1 to 63 lowercase letters, digits and hyphens", paved.CheckName}
}

// CheckName is Name as a plain function.
func CheckName(s string) error { return paved.CheckName(s) }

// Duration checks a Go duration string ("15s", "2m"); positive requires > 0.
func Duration(positive bool) validator.String {
	return stringCheck{"a duration such as \"15s\" or \"2m\"", func(s string) error { return paved.CheckDuration(s, positive) }}
}

// WebhookSecrets checks the values of a map of webhook secrets (source →
// secret) without ever putting a value in a message.
func WebhookSecrets() validator.Map { return webhookSecretMap{} }

type webhookSecretMap struct{}

func (webhookSecretMap) Description(context.Context) string {
	return "secrets of at least 32 printable characters without spaces"
}
func (v webhookSecretMap) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (webhookSecretMap) ValidateMap(_ context.Context, req validator.MapRequest, resp *validator.MapResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	for k, v := range req.ConfigValue.Elements() {
		s, ok := v.(types.String)
		if !ok || s.IsNull() || s.IsUnknown() {
			continue
		}
		if err := paved.CheckWebhookSecret(s.ValueString()); err != nil {
			resp.Diagnostics.AddAttributeError(req.Path.AtMapKey(k), "Invalid webhook secret", err.Error())
		}
	}
}
