package validators

import (
	"context"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

func runString(v validator.String, s string) bool {
	resp := &validator.StringResponse{}
	v.ValidateString(context.Background(), validator.StringRequest{Path: path.Root("x"), ConfigValue: types.StringValue(s)}, resp)
	return !resp.Diagnostics.HasError()
}

func TestStringValidators(t *testing.T) {
	cases := []struct {
		name string
		v    validator.String
		ok   []string
		bad  []string
	}{
		{"name", Name(), []string{"web", "a", "web-1"}, []string{"", "Web", "-web", "web-", "we_b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}},
		{"duration", Duration(false), []string{"0s", "15s", "1m30s", "500ms"}, []string{"15", "soon", "-1s"}},
		{"positive duration", Duration(true), []string{"1s", "2m"}, []string{"0s", "-5s", "x"}},
	}
	for _, tc := range cases {
		for _, s := range tc.ok {
			if !runString(tc.v, s) {
				t.Errorf("%s: %q rejected", tc.name, s)
			}
		}
		for _, s := range tc.bad {
			if runString(tc.v, s) {
				t.Errorf("%s: %q accepted", tc.name, s)
			}
		}
	}
	// Unknown and null values are left for later.
	resp := &validator.StringResponse{}
	Name().ValidateString(context.Background(), validator.StringRequest{ConfigValue: types.StringUnknown()}, resp)
	if resp.Diagnostics.HasError() {
		t.Error("unknown value rejected")
	}
}
