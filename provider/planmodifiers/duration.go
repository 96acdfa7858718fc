// Package planmodifiers holds the provider's plan modifiers.
package planmodifiers

import (
	"context"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
)

// SameDuration keeps the state's spelling of a duration when the config
// means the same time ("1h" and "1h0m0s"), so an imported or refreshed
// value does not plan a change (or a replacement).
func SameDuration() planmodifier.String { return sameDuration{} }

type sameDuration struct{}

func (sameDuration) Description(context.Context) string {
	return "equal durations in other spellings are no change"
}

func (m sameDuration) MarkdownDescription(ctx context.Context) string { return m.Description(ctx) }

func (sameDuration) PlanModifyString(_ context.Context, req planmodifier.StringRequest, resp *planmodifier.StringResponse) {
	if req.StateValue.IsNull() || req.PlanValue.IsNull() || req.PlanValue.IsUnknown() {
		return
	}
	a, errA := time.ParseDuration(req.StateValue.ValueString())
	b, errB := time.ParseDuration(req.PlanValue.ValueString())
	if errA == nil && errB == nil && a == b {
		resp.PlanValue = req.StateValue
	}
}
