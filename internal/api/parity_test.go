package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// appCorpus is one corpus of app specs for every judge of an app: valid
// ones, and one of each kind of invalid (every field the library's
// AppSpec.Validate checks) with the field it is refused at. The five cases
// marked "disagreed" are those the library and the cell judged differently
// before the cell called the library (issue 22); each now has one verdict.
func appCorpus(source string) []struct {
	name  string
	spec  paved.AppSpec
	field string // "" = valid
} {
	d := func(s string) paved.Duration {
		v, err := time.ParseDuration(s)
		if err != nil {
			panic(err)
		}
		return paved.Duration(v)
	}
	rate := func(f float64) *float64 { return &f }
	web := func(edit func(*paved.AppSpec)) paved.AppSpec {
		s := paved.AppSpec{Name: "web", Command: "./web", Instances: 3}
		edit(&s)
		return s
	}
	dep := func(dp paved.DeploymentSpec) paved.AppSpec {
		return web(func(s *paved.AppSpec) { s.Deployment = &dp })
	}
	hc := func(h paved.HealthCheck) paved.AppSpec {
		return web(func(s *paved.AppSpec) { s.HealthCheck = &h })
	}
	routes := func(rs ...paved.Route) paved.AppSpec {
		return web(func(s *paved.AppSpec) { s.Routes = rs })
	}
	canary := func(steps ...paved.CanaryStep) paved.AppSpec {
		return dep(paved.DeploymentSpec{Strategy: paved.StrategyCanary, Steps: steps})
	}
	return []struct {
		name  string
		spec  paved.AppSpec
		field string
	}{
		// Valid.
		{"minimal", paved.AppSpec{Name: "web", Command: "./web"}, ""},
		{"everything", paved.AppSpec{Name: "web-1", Source: source, Build: "make", Command: "./web", Instances: 4, MemoryMB: 256,
			Env: map[string]string{"A": "1", "_B": "2", "PAVED": "x"}, SecretEnv: map[string]string{"KEY": "s"},
			Routes:      []paved.Route{{Host: "web.example.test"}, {Host: "web.example.test", Path: "/api"}, {Host: "web.example.test", Path: "/apiv2/"}},
			HealthCheck: &paved.HealthCheck{Type: paved.HealthHTTP, Path: "/up", Interval: d("5s"), Timeout: d("5s"), Grace: d("30s")},
			Deployment: &paved.DeploymentSpec{Strategy: paved.StrategyRolling, MaxInFlight: "2", MinHealthyTime: d("1s"),
				DrainTimeout: d("2s"), ProgressDeadline: ptr(d("1m")), AutoRollback: ptr(false)}}, ""},
		{"timeout without interval", hc(paved.HealthCheck{Type: paved.HealthTCP, Timeout: d("10s")}), ""},
		{"max_in_flight percent", dep(paved.DeploymentSpec{MaxInFlight: "12.5%"}), ""},
		{"max_in_flight more than the app", dep(paved.DeploymentSpec{MaxInFlight: "10"}), ""},
		{"canary", dep(paved.DeploymentSpec{Strategy: paved.StrategyCanary, Steps: []paved.CanaryStep{{Instances: 3, Watch: d("10s")}, {Weight: 50}},
			MaxErrorRate: rate(0.1), MinRequests: 5}), ""},
		{"canary of an app without instances, by weight", paved.AppSpec{Name: "web", Command: "x",
			Deployment: &paved.DeploymentSpec{Strategy: paved.StrategyCanary, Steps: []paved.CanaryStep{{Weight: 10}}}}, ""},
		{"blue_green keep_old", dep(paved.DeploymentSpec{Strategy: paved.StrategyBlueGreen, KeepOld: d("30s")}), ""},
		{"recreate", dep(paved.DeploymentSpec{Strategy: paved.StrategyRecreate}), ""},

		// The five disagreements.
		{"disagreed: keep_old on a rolling app", dep(paved.DeploymentSpec{Strategy: paved.StrategyRolling, KeepOld: d("30s")}), "deployment.keep_old"},
		{"disagreed: max_error_rate on a rolling app", dep(paved.DeploymentSpec{MaxErrorRate: rate(0.1)}), "deployment.max_error_rate"},
		{"disagreed: max_in_flight with a space", dep(paved.DeploymentSpec{MaxInFlight: " 2"}), "deployment.max_in_flight"},
		{"disagreed: a canary step larger than the app", canary(paved.CanaryStep{Instances: 4}), "deployment.steps[0].instances"},
		{"disagreed: health_check.timeout over the interval", hc(paved.HealthCheck{Type: paved.HealthHTTP, Interval: d("1s"), Timeout: d("2s")}), "health_check.timeout"},

		// One of each kind of invalid.
		{"no name", paved.AppSpec{Command: "x"}, "name"},
		{"name with capitals", paved.AppSpec{Name: "Web", Command: "x"}, "name"},
		{"name starting with a hyphen", paved.AppSpec{Name: "-web", Command: "x"}, "name"},
		{"name with an underscore", paved.AppSpec{Name: "we_b", Command: "x"}, "name"},
		{"name of 64 characters", paved.AppSpec{Name: strings.Repeat("a", 64), Command: "x"}, "name"},
		{"source not a digest", web(func(s *paved.AppSpec) { s.Source = "abc" }), "source"},
		{"source in capitals", web(func(s *paved.AppSpec) { s.Source = strings.ToUpper(source) }), "source"},
		{"no command", paved.AppSpec{Name: "web"}, "command"},
		{"blank command", paved.AppSpec{Name: "web", Command: " \t"}, "command"},
		{"negative instances", web(func(s *paved.AppSpec) { s.Instances = -1 }), "instances"},
		{"too many instances", web(func(s *paved.AppSpec) { s.Instances = paved.MaxAppInstances + 1 }), "instances"},
		{"negative memory", web(func(s *paved.AppSpec) { s.MemoryMB = -5 }), "memory_mb"},
		{"too much memory", web(func(s *paved.AppSpec) { s.MemoryMB = paved.MaxAppMemoryMB + 1 }), "memory_mb"},
		{"env name starting with a digit", web(func(s *paved.AppSpec) { s.Env = map[string]string{"1X": "x"} }), "env.1X"},
		{"env name with a hyphen", web(func(s *paved.AppSpec) { s.Env = map[string]string{"A-B": "x"} }), "env.A-B"},
		{"env PORT", web(func(s *paved.AppSpec) { s.Env = map[string]string{"PORT": "80"} }), "env.PORT"},
		{"env PAVED_", web(func(s *paved.AppSpec) { s.Env = map[string]string{"PAVED_TOKEN": "x"} }), "env.PAVED_TOKEN"},
		{"secret_env PORT", web(func(s *paved.AppSpec) { s.SecretEnv = map[string]string{"PORT": "80"} }), "secret_env.PORT"},
		{"secret_env also in env", web(func(s *paved.AppSpec) {
			s.Env, s.SecretEnv = map[string]string{"K": "v"}, map[string]string{"K": "s"}
		}), "secret_env.K"},
		{"route without a host", routes(paved.Route{Host: "ok.test"}, paved.Route{Path: "/api"}), "routes[1].host"},
		{"route host with capitals", routes(paved.Route{Host: "Bad_Host"}), "routes[0].host"},
		{"route host with an empty label", routes(paved.Route{Host: "a..test"}), "routes[0].host"},
		{"route host with a slash", routes(paved.Route{Host: "a.test/api"}), "routes[0].host"},
		{"route host of 254 characters", routes(paved.Route{Host: strings.Repeat("a.", 126) + "ab"}), "routes[0].host"},
		{"relative route path", routes(paved.Route{Host: "a.test", Path: "api"}), "routes[0].path"},
		{"route listed twice, / and none", routes(paved.Route{Host: "a.test", Path: "/"}, paved.Route{Host: "a.test"}), "routes[1]"},
		{"route listed twice, trailing slash", routes(paved.Route{Host: "a.test", Path: "/api"}, paved.Route{Host: "a.test", Path: "/api//"}), "routes[1]"},
		{"health check without a type", hc(paved.HealthCheck{Interval: d("5s")}), "health_check.type"},
		{"health check of an unknown type", hc(paved.HealthCheck{Type: "udp"}), "health_check.type"},
		{"health check path on tcp", hc(paved.HealthCheck{Type: paved.HealthTCP, Path: "/up"}), "health_check.path"},
		{"health check path relative", hc(paved.HealthCheck{Type: paved.HealthHTTP, Path: "up"}), "health_check.path"},
		{"health check interval negative", hc(paved.HealthCheck{Type: paved.HealthHTTP, Interval: d("-1s")}), "health_check.interval"},
		{"health check timeout negative", hc(paved.HealthCheck{Type: paved.HealthHTTP, Timeout: d("-1s")}), "health_check.timeout"},
		{"health check grace negative", hc(paved.HealthCheck{Type: paved.HealthHTTP, Grace: d("-1s")}), "health_check.grace"},
		{"unknown strategy", dep(paved.DeploymentSpec{Strategy: "sideways"}), "deployment.strategy"},
		{"max_in_flight 0", dep(paved.DeploymentSpec{MaxInFlight: "0"}), "deployment.max_in_flight"},
		{"max_in_flight 02", dep(paved.DeploymentSpec{MaxInFlight: "02"}), "deployment.max_in_flight"},
		{"max_in_flight abc", dep(paved.DeploymentSpec{MaxInFlight: "abc"}), "deployment.max_in_flight"},
		{"max_in_flight 150%", dep(paved.DeploymentSpec{MaxInFlight: "150%"}), "deployment.max_in_flight"},
		{"max_in_flight 1e1%", dep(paved.DeploymentSpec{MaxInFlight: "1e1%"}), "deployment.max_in_flight"},
		{"min_healthy_time negative", dep(paved.DeploymentSpec{MinHealthyTime: d("-1s")}), "deployment.min_healthy_time"},
		{"drain_timeout negative", dep(paved.DeploymentSpec{DrainTimeout: d("-1s")}), "deployment.drain_timeout"},
		{"keep_old negative", dep(paved.DeploymentSpec{Strategy: paved.StrategyBlueGreen, KeepOld: d("-1s")}), "deployment.keep_old"},
		{"keep_old on the default strategy", dep(paved.DeploymentSpec{KeepOld: d("1s")}), "deployment.keep_old"},
		{"progress_deadline zero", dep(paved.DeploymentSpec{ProgressDeadline: ptr(d("0s"))}), "deployment.progress_deadline"},
		{"min_requests on a rolling app", dep(paved.DeploymentSpec{Strategy: paved.StrategyRolling, MinRequests: 5}), "deployment.min_requests"},
		{"steps on a blue_green app", dep(paved.DeploymentSpec{Strategy: paved.StrategyBlueGreen, Steps: []paved.CanaryStep{{Weight: 10}}}), "deployment.steps"},
		{"canary step with both", canary(paved.CanaryStep{Instances: 1, Weight: 10}), "deployment.steps[0]"},
		{"canary step with neither", canary(paved.CanaryStep{Instances: 1}, paved.CanaryStep{Watch: d("1s")}), "deployment.steps[1]"},
		{"canary step instances negative", canary(paved.CanaryStep{Instances: -1}), "deployment.steps[0].instances"},
		{"canary step weight 101", canary(paved.CanaryStep{Weight: 101}), "deployment.steps[0].weight"},
		{"canary step watch negative", canary(paved.CanaryStep{Weight: 10, Watch: d("-1s")}), "deployment.steps[0].watch"},
		{"max_error_rate over 1", dep(paved.DeploymentSpec{Strategy: paved.StrategyCanary, MaxErrorRate: rate(1.5)}), "deployment.max_error_rate"},
		{"min_requests negative", dep(paved.DeploymentSpec{Strategy: paved.StrategyCanary, MinRequests: -1}), "deployment.min_requests"},
	}
}

func ptr[T any](v T) *T { return &v }

// TestAppValidationParity feeds appCorpus to the library's AppSpec.Validate
// and to the cell's HTTP API on a real store (create and update) and
// requires the same verdict at the same field for each spec.
func TestAppValidationParity(t *testing.T) {
	e := newEnv(t, nil)
	e.mustCreate("/v1/spaces", `{"name":"prod"}`)
	e.mustCreate("/v1/spaces/prod/apps", `{"name":"base","command":"x"}`)
	archive := makeTarGz(t, tarEntry{name: "web", body: "#!/bin/sh\n"})
	source := sha(archive)
	if r := e.request(http.MethodPut, "/v1/sources/"+source, archive, "Content-Type", "application/octet-stream"); r.status >= 300 {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	for _, tc := range appCorpus(source) {
		t.Run(tc.name, func(t *testing.T) {
			lib := ""
			if errs := tc.spec.Validate(); len(errs) > 0 {
				lib = errs[0].Field
				if tc.field != "" && len(errs) != 1 {
					t.Errorf("library: %d problems, want one: %v", len(errs), errs)
				}
			}
			if lib != tc.field {
				t.Fatalf("library: field %q (%v), want %q", lib, tc.spec.Validate(), verdict(tc.field))
			}
			r := e.request(http.MethodPost, "/v1/spaces/prod/apps", tc.spec)
			if tc.field == "" {
				expect(t, "cell: create", r, http.StatusCreated, "")
				expect(t, "cell: delete", e.request(http.MethodDelete, "/v1/spaces/prod/apps/"+tc.spec.Name, nil), http.StatusNoContent, "")
				return
			}
			expect(t, "cell: create", r, http.StatusUnprocessableEntity, tc.field)
			if ae := r.apiError(t); ae.Code != paved.CodeValidation || ae.Message != tc.spec.Validate()[0].Message {
				t.Errorf("cell: %s %q, want %s with the library's message %q", ae.Code, ae.Message, paved.CodeValidation, tc.spec.Validate()[0].Message)
			}
			if tc.field != "name" {
				update := tc.spec
				update.Name = "base"
				expect(t, "cell: update", e.request(http.MethodPut, "/v1/spaces/prod/apps/base", update), http.StatusUnprocessableEntity, tc.field)
			}
		})
	}
	var list struct{ Apps []paved.App }
	e.request(http.MethodGet, "/v1/spaces/prod/apps", nil).decode(t, &list)
	if len(list.Apps) != 1 || list.Apps[0].Name != "base" || list.Apps[0].Command != "x" {
		t.Errorf("apps after the corpus: %+v, want base unchanged", list.Apps)
	}
}

func verdict(field string) string {
	if field == "" {
		return "valid"
	}
	return fmt.Sprintf("refused at %s", field)
}
