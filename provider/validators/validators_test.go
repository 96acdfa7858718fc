package validators

import (
	"context"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/attr"
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
		{"route", Route(), []string{"web.example.test", "web.example.test/api", "a/b/c"}, []string{"", "/api", "Web.test", "we_b.test", "a..b"}},
		{"host", Host(), []string{"donations.example.test", "localhost"}, []string{"", "a..b", "Web.test", "web.test/api", "we_b.test"}},
		{"duration", Duration(false), []string{"0s", "15s", "1m30s", "500ms"}, []string{"15", "soon", "-1s"}},
		{"positive duration", Duration(true), []string{"1s", "2m"}, []string{"0s", "-5s", "x"}},
		{"max_in_flight", MaxInFlight(), []string{"1", "10", "25%", "100%", "12.5%"}, []string{"0", "-1", "150%", "0%", "abc", "1.5", "2x"}},
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

func TestEnvNames(t *testing.T) {
	check := func(keys ...string) int {
		elems := map[string]attr.Value{}
		for _, k := range keys {
			elems[k] = types.StringValue("v")
		}
		resp := &validator.MapResponse{}
		EnvNames().ValidateMap(context.Background(), validator.MapRequest{Path: path.Root("env"), ConfigValue: types.MapValueMust(types.StringType, elems)}, resp)
		return resp.Diagnostics.ErrorsCount()
	}
	if n := check("GREETING", "_X", "a1"); n != 0 {
		t.Errorf("valid names: %d errors", n)
	}
	if n := check("1X", "PORT", "PAVED_TOKEN", "A-B"); n != 4 {
		t.Errorf("invalid names: %d errors, want 4", n)
	}
}
