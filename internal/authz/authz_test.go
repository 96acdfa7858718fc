package authz

import (
	"errors"
	"strings"
	"testing"
)

func TestDecide(t *testing.T) {
	admin := Principal{ID: "admin", Name: "admin", Role: Admin}
	dev := Principal{ID: "tok_d", Name: "dev", Role: SpaceDeveloper, Space: "shop"}
	aud := Principal{ID: "tok_a", Name: "aud", Role: SpaceAuditor, Space: "shop"}
	ops := Principal{ID: "tok_o", Name: "ops", Role: PipelineOperator, Space: "shop"}
	const (
		allow = true
		deny  = false
	)
	tests := []struct {
		p            Principal
		method, path string
		allowed      bool
		msg          string // part of the refusal
	}{
		// admin: everything, including what no space role may do.
		{admin, "GET", "/v1/spaces", allow, ""},
		{admin, "POST", "/v1/spaces", allow, ""},
		{admin, "DELETE", "/v1/spaces/shop", allow, ""},
		{admin, "POST", "/v1/tokens", allow, ""},
		{admin, "GET", "/v1/events", allow, ""},
		{admin, "PUT", "/v1/replica-sets/x", allow, ""},
		{admin, "GET", "/v1/anything/at/all", allow, ""},

		// cell-wide endpoints: admin only.
		{dev, "GET", "/v1/spaces", deny, "cell-wide"},
		{dev, "POST", "/v1/spaces", deny, "cell-wide"},
		{aud, "GET", "/v1/apps", deny, "cell-wide"},
		{aud, "GET", "/v1/events", deny, "cell-wide"},
		{ops, "GET", "/v1/environments", deny, "cell-wide"},
		{dev, "POST", "/v1/environments", deny, "cell-wide"},
		{dev, "GET", "/v1/environments/pr-1", deny, "cell-wide"},
		{dev, "GET", "/v1/replica-sets", deny, "cell-wide"},
		{dev, "PUT", "/v1/replica-sets/web", deny, "cell-wide"},
		{dev, "GET", "/v1/tokens", deny, "cell-wide"},
		{dev, "POST", "/v1/tokens", deny, "cell-wide"},
		{aud, "DELETE", "/v1/tokens/tok_a", deny, "cell-wide"},
		{dev, "GET", "/v1/nope", deny, "cell-wide"},
		{dev, "GET", "/v1/health", allow, ""},

		// backing services: brokers are the admin's; the marketplace is
		// every space's to read; credentials are for space developers.
		{dev, "GET", "/v1/service-brokers", deny, "cell-wide"},
		{dev, "PUT", "/v1/service-brokers/pg", deny, "cell-wide"},
		{admin, "PUT", "/v1/service-brokers/pg", allow, ""},
		{dev, "GET", "/v1/service-offerings", allow, ""},
		{aud, "GET", "/v1/service-offerings", allow, ""},
		{dev, "POST", "/v1/service-offerings", deny, "only read"},
		{dev, "POST", "/v1/spaces/shop/service-instances", allow, ""},
		{aud, "GET", "/v1/spaces/shop/service-instances/db", allow, ""},
		{aud, "POST", "/v1/spaces/shop/service-instances", deny, "only read"},
		{dev, "GET", "/v1/spaces/shop/service-bindings/web-db/credentials", allow, ""},
		{aud, "GET", "/v1/spaces/shop/service-bindings/web-db/credentials", deny, "credentials"},
		{ops, "GET", "/v1/spaces/shop/service-bindings/web-db/credentials", deny, "credentials"},
		{dev, "GET", "/v1/spaces/other/service-bindings/web-db/credentials", deny, `space "other"`},

		// the space itself: every space role reads it; only admin changes it.
		{dev, "GET", "/v1/spaces/shop", allow, ""},
		{aud, "HEAD", "/v1/spaces/shop", allow, ""},
		{ops, "GET", "/v1/spaces/shop", allow, ""},
		{dev, "PUT", "/v1/spaces/shop", deny, "not change or delete"},
		{dev, "DELETE", "/v1/spaces/shop", deny, "not change or delete"},
		{aud, "DELETE", "/v1/spaces/shop", deny, "not change or delete"},
		{dev, "GET", "/v1/spaces/other", deny, `space "other"`},

		// space_developer: everything under its space.
		{dev, "GET", "/v1/spaces/shop/apps", allow, ""},
		{dev, "POST", "/v1/spaces/shop/apps", allow, ""},
		{dev, "PUT", "/v1/spaces/shop/apps/web", allow, ""},
		{dev, "DELETE", "/v1/spaces/shop/apps/web", allow, ""},
		{dev, "POST", "/v1/spaces/shop/apps/web/rollback", allow, ""},
		{dev, "GET", "/v1/spaces/shop/apps/web/logs", allow, ""},
		{dev, "PUT", "/v1/spaces/shop/pipelines/ci", allow, ""},
		{dev, "POST", "/v1/spaces/shop/restore", allow, ""},
		{dev, "POST", "/v1/spaces/other/apps", deny, `space "other"`},
		{dev, "GET", "/v1/spaces/other/apps/web", deny, `space "other"`},
		{dev, "HEAD", "/v1/sources/abc", allow, ""},
		{dev, "GET", "/v1/sources/abc", allow, ""},
		{dev, "PUT", "/v1/sources/abc", allow, ""},
		{dev, "DELETE", "/v1/sources/abc", deny, "upload"},

		// space_auditor: reads only, in its space.
		{aud, "GET", "/v1/spaces/shop/apps", allow, ""},
		{aud, "GET", "/v1/spaces/shop/apps/web", allow, ""},
		{aud, "GET", "/v1/spaces/shop/apps/web/releases", allow, ""},
		{aud, "GET", "/v1/spaces/shop/apps/web/builds/3/log", allow, ""},
		{aud, "GET", "/v1/spaces/shop/apps/web/logs", allow, ""},
		{aud, "GET", "/v1/spaces/shop/apps/web/deployments", allow, ""},
		{aud, "GET", "/v1/spaces/shop/pipelines/ci/timings", allow, ""},
		{aud, "GET", "/v1/spaces/shop/snapshots", allow, ""},
		{aud, "POST", "/v1/spaces/shop/apps", deny, "only read"},
		{aud, "PUT", "/v1/spaces/shop/apps/web", deny, "only read"},
		{aud, "PUT", "/v1/spaces/shop/pipelines/ci", deny, "only read"},
		{aud, "POST", "/v1/spaces/shop/apps/web/rollback", deny, "only read"},
		{aud, "GET", "/v1/spaces/other/apps", deny, `space "other"`},
		{aud, "HEAD", "/v1/sources/abc", deny, "space developers"},

		// pipeline_operator: reads, and writes of pipelines only.
		{ops, "GET", "/v1/spaces/shop/apps/web", allow, ""},
		{ops, "PUT", "/v1/spaces/shop/pipelines/ci", allow, ""},
		{ops, "DELETE", "/v1/spaces/shop/pipelines/ci", allow, ""},
		{ops, "POST", "/v1/spaces/shop/pipelines/ci/sources/repo/check", allow, ""},
		{ops, "POST", "/v1/spaces/shop/apps", deny, "not POST"},
		{ops, "PUT", "/v1/spaces/shop/apps/web", deny, "not PUT"},
		{ops, "DELETE", "/v1/spaces/shop/apps/web", deny, "not DELETE"},
		{ops, "POST", "/v1/spaces/shop/apps/web/rollback", deny, "pipelines"},
		{ops, "POST", "/v1/spaces/shop/restore", deny, "pipelines"},
		{ops, "PATCH", "/v1/spaces/shop/pipelines/ci", deny, "pipelines"},
		{ops, "PUT", "/v1/spaces/other/pipelines/ci", deny, `space "other"`},
		{ops, "PUT", "/v1/sources/abc", deny, "space developers"},

		// objects by ID: reads pass here; the handler checks their space.
		{aud, "GET", "/v1/deployments/7", allow, ""},
		{ops, "GET", "/v1/job-builds/7", allow, ""},
		{dev, "GET", "/v1/job-builds/7/log", allow, ""},
		{dev, "DELETE", "/v1/deployments/7", deny, "may not DELETE"},
		{dev, "GET", "/v1/job-builds/7/other", deny, "cell-wide"},

		// escapes and unclean paths cannot move a request into another space.
		{dev, "GET", "/v1/spaces/shop%2F..%2Fother/apps", deny, `space "shop/../other"`},
		{dev, "GET", "/v1/spaces/shop/../other/apps", deny, "canonical"},
		{dev, "GET", "/v1/spaces/shop/%2e%2e/other/apps", deny, "canonical"},
		{dev, "GET", "/v1/spaces//apps", deny, "canonical"},
		{dev, "GET", "/v1/spaces/shop/", deny, "canonical"},
		{dev, "GET", "/v1/spaces/sh%ZZop", deny, "canonical"},
		{dev, "GET", "/v1/spaces/%73hop/apps", allow, ""}, // %73 is "s"
		{dev, "GET", "/v2/spaces/shop", deny, "canonical"},
		{dev, "GET", "/", deny, "canonical"},

		// a scoped role without a space, or an unknown role, may do nothing.
		{Principal{ID: "tok_x", Role: SpaceDeveloper}, "GET", "/v1/spaces//apps", deny, "not bound"},
		{Principal{ID: "tok_x", Role: "root", Space: "shop"}, "GET", "/v1/spaces/shop", deny, "may do nothing"},
	}
	for _, tc := range tests {
		err := Decide(tc.p, tc.method, tc.path)
		name := string(tc.p.Role) + " " + tc.method + " " + tc.path
		if tc.allowed {
			if err != nil {
				t.Errorf("%s: refused (%v), want allowed", name, err)
			}
			continue
		}
		var d *Denied
		if !errors.As(err, &d) {
			t.Errorf("%s: %v, want a *Denied", name, err)
			continue
		}
		if !strings.Contains(d.Message, tc.msg) {
			t.Errorf("%s: %q does not mention %q", name, d.Message, tc.msg)
		}
		if !strings.Contains(d.Message, string(tc.p.Role)) {
			t.Errorf("%s: %q does not name the role", name, d.Message)
		}
	}
}

func TestCheckSpace(t *testing.T) {
	tests := []struct {
		p       Principal
		space   string
		allowed bool
	}{
		{Principal{Role: Admin}, "any", true},
		{Principal{Role: SpaceAuditor, Space: "shop"}, "shop", true},
		{Principal{Role: PipelineOperator, Space: "shop"}, "other", false},
		{Principal{Role: SpaceDeveloper, Space: "shop"}, "other", false},
		{Principal{Role: SpaceDeveloper}, "", false},
		{Principal{Role: "root", Space: "shop"}, "shop", false},
	}
	for _, tc := range tests {
		err := CheckSpace(tc.p, tc.space, "deployment 1")
		if (err == nil) != tc.allowed {
			t.Errorf("%+v on space %q: %v, want allowed=%v", tc.p, tc.space, err, tc.allowed)
		}
	}
}
