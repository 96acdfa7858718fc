package planmodifiers

import (
	"context"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

func TestSameDuration(t *testing.T) {
	cases := []struct {
		state, plan types.String
		want        types.String
	}{
		{types.StringValue("1h0m0s"), types.StringValue("1h"), types.StringValue("1h0m0s")},
		{types.StringValue("60s"), types.StringValue("1m"), types.StringValue("60s")},
		{types.StringValue("1h"), types.StringValue("2h"), types.StringValue("2h")},
		{types.StringNull(), types.StringValue("1h"), types.StringValue("1h")},
		{types.StringValue("1h"), types.StringUnknown(), types.StringUnknown()},
		{types.StringValue("soon"), types.StringValue("1h"), types.StringValue("1h")},
	}
	for _, tc := range cases {
		resp := &planmodifier.StringResponse{PlanValue: tc.plan}
		SameDuration().PlanModifyString(context.Background(), planmodifier.StringRequest{StateValue: tc.state, PlanValue: tc.plan}, resp)
		if !resp.PlanValue.Equal(tc.want) {
			t.Errorf("state %s plan %s: got %s, want %s", tc.state, tc.plan, resp.PlanValue, tc.want)
		}
	}
}
