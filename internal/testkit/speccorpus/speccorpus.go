// Package speccorpus is one corpus of app, replica-set and environment
// specs for every judge of a spec: the library's Validate, the cell's API,
// the Terraform provider's plan-time checks and the Pulumi plugin's Check
// (issue 22). Each case is valid, or one kind of invalid with the field
// (the library's JSON path, such as "deployment.steps[0].instances") it is
// refused at; the parity tests beside each judge require the same verdict
// at the same field.
//
// The front ends declare some things differently from the wire form: a
// source is a path (its digest is computed), routes are "host/path" text,
// canary steps are traffic weights with one watch, and a replica set names
// regions, not peers with routers. A case's Undeclarable says when its
// spec cannot be said in their inputs, so their tests skip it by that
// predicate and count it; Declared gives what they declare otherwise.
package speccorpus

import (
	"fmt"
	"strings"
	"time"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// AppCase is an app spec and the field the library refuses it at ("" =
// valid).
type AppCase struct {
	Name  string
	Spec  paved.AppSpec
	Field string
}

// Apps is the app corpus: valid specs, and one of each kind of invalid
// (every field the library's AppSpec.Validate checks). source is the
// digest of an uploaded archive, for the spec that sets everything. The
// five cases named "disagreed" are those the library and the cell judged
// differently before the cell called the library (issue 22); each now has
// one verdict.
func Apps(source string) []AppCase {
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
	return []AppCase{
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
		{"canary step with neither, by weight", canary(paved.CanaryStep{Weight: 10, Watch: d("1s")}, paved.CanaryStep{Watch: d("1s")}), "deployment.steps[1]"},
		{"canary step instances negative", canary(paved.CanaryStep{Instances: -1}), "deployment.steps[0].instances"},
		{"canary step weight 101", canary(paved.CanaryStep{Weight: 101}), "deployment.steps[0].weight"},
		{"canary step watch negative", canary(paved.CanaryStep{Weight: 10, Watch: d("-1s")}), "deployment.steps[0].watch"},
		{"max_error_rate over 1", dep(paved.DeploymentSpec{Strategy: paved.StrategyCanary, MaxErrorRate: rate(1.5)}), "deployment.max_error_rate"},
		{"min_requests negative", dep(paved.DeploymentSpec{Strategy: paved.StrategyCanary, MinRequests: -1}), "deployment.min_requests"},
	}
}

// Declared is the spec as a front end declares it: without the source's
// digest, which a front end computes from the path it is given.
func (c AppCase) Declared() paved.AppSpec {
	s := c.Spec
	s.Source = ""
	return s
}

// Undeclarable says why a front end's inputs cannot declare the case's
// spec ("" when they can).
func (c AppCase) Undeclarable() string {
	if c.Field == "source" {
		return "the source is a path there; its digest is computed"
	}
	for _, r := range c.Spec.Routes {
		if _, ok := RouteText(r); !ok {
			return fmt.Sprintf("a route of host %q and path %q has no \"host/path\" text there", r.Host, r.Path)
		}
	}
	if d := c.Spec.Deployment; d != nil {
		for _, st := range d.Steps {
			if st.Instances != 0 {
				return "a canary step there is a traffic weight, not a count of instances"
			}
			if st.Watch != d.Steps[0].Watch {
				return "one watch there serves every canary step"
			}
		}
	}
	return ""
}

// RouteText is a route as the front ends write it, "host" or "host/path",
// and whether that text reads back as the route (paved.ParseRoute; "/" and
// no path are the same route).
func RouteText(r paved.Route) (string, bool) {
	s := r.String()
	back := paved.ParseRoute(s)
	return s, back == r || r.Path == "/" && back == paved.Route{Host: r.Host}
}

// ReplicaSetCase is a cell's record of a replica set and the field the
// library refuses it at ("" = valid).
type ReplicaSetCase struct {
	Name  string
	Spec  paved.ReplicaSetRecord
	Field string
}

// ReplicaSets is the replica-set corpus: records as the fan-out writes
// them to each cell (PUT /v1/replica-sets/{name}), valid and one of each
// kind of invalid (every field ReplicaSetRecord.Validate checks). Every
// record has a name, as the PUT's path does (a body without one takes the
// path's).
func ReplicaSets() []ReplicaSetCase {
	peer := func(region string) paved.Peer { return paved.Peer{Region: region, Router: "127.0.0.1:7480"} }
	regions := func(n int) []paved.Peer {
		out := make([]paved.Peer, n)
		for i := range out {
			out[i] = peer(fmt.Sprintf("region-%d", i))
		}
		return out
	}
	rs := func(edit func(*paved.ReplicaSetRecord)) paved.ReplicaSetRecord {
		r := paved.ReplicaSetRecord{Name: "donations", Space: "shop", App: "web", GlobalHost: "donations.example.test",
			Peers: []paved.Peer{peer("aws-eu-west-1"), peer("gcp-europe-west2")}}
		edit(&r)
		return r
	}
	withPeers := func(ps ...paved.Peer) paved.ReplicaSetRecord {
		return rs(func(r *paved.ReplicaSetRecord) { r.Peers = ps })
	}
	router := func(addr string) paved.ReplicaSetRecord {
		return withPeers(peer("aws-eu-west-1"), paved.Peer{Region: "gcp-europe-west2", Router: addr})
	}
	return []ReplicaSetCase{
		// Valid.
		{"two regions", rs(func(*paved.ReplicaSetRecord) {}), ""},
		{"one region over TLS", withPeers(paved.Peer{Region: "onprem-london", Router: "cell.example.test:7443", TLS: true}), ""},
		{"no peers yet", withPeers(), ""},
		{"as many regions as a set may span", withPeers(regions(paved.MaxReplicaSetRegions)...), ""},
		{"an IPv6 router", router("[::1]:7480"), ""},
		{"a one-label global host", rs(func(r *paved.ReplicaSetRecord) { r.GlobalHost = "donations" }), ""},

		// One of each kind of invalid.
		{"name with capitals", rs(func(r *paved.ReplicaSetRecord) { r.Name = "Donations" }), "name"},
		{"name of 64 characters", rs(func(r *paved.ReplicaSetRecord) { r.Name = strings.Repeat("d", 64) }), "name"},
		{"no space", rs(func(r *paved.ReplicaSetRecord) { r.Space = "" }), "space"},
		{"space with an underscore", rs(func(r *paved.ReplicaSetRecord) { r.Space = "the_shop" }), "space"},
		{"no app", rs(func(r *paved.ReplicaSetRecord) { r.App = "" }), "app"},
		{"app starting with a hyphen", rs(func(r *paved.ReplicaSetRecord) { r.App = "-web" }), "app"},
		{"no global host", rs(func(r *paved.ReplicaSetRecord) { r.GlobalHost = "" }), "global_host"},
		{"global host with capitals", rs(func(r *paved.ReplicaSetRecord) { r.GlobalHost = "Donations.example.test" }), "global_host"},
		{"global host with an empty label", rs(func(r *paved.ReplicaSetRecord) { r.GlobalHost = "donations..test" }), "global_host"},
		{"global host with a port", rs(func(r *paved.ReplicaSetRecord) { r.GlobalHost = "donations.test:443" }), "global_host"},
		{"global host of 254 characters", rs(func(r *paved.ReplicaSetRecord) { r.GlobalHost = strings.Repeat("a.", 126) + "ab" }), "global_host"},
		{"more regions than a set may span", withPeers(regions(paved.MaxReplicaSetRegions + 1)...), "peers"},
		{"a region without a name", withPeers(peer("")), "peers[0].region"},
		{"a region with capitals", withPeers(peer("aws-eu-west-1"), peer("GCP")), "peers[1].region"},
		{"a region listed twice", withPeers(peer("aws-eu-west-1"), peer("gcp-europe-west2"), peer("aws-eu-west-1")), "peers[2].region"},
		{"a router without a port", router("10.0.0.2"), "peers[1].router"},
		{"a router with an empty port", router("10.0.0.2:"), "peers[1].router"},
		{"no router", router(""), "peers[1].router"},
	}
}

// Declared is the replica set a front end declares for the case's record
// (its peers' regions, the app by name with a command) and the field the
// library refuses that declaration at, or ok false when no declaration
// writes such a record (Undeclarable says why).
func (c ReplicaSetCase) Declared() (spec paved.ReplicaSetSpec, field string, ok bool) {
	if c.Undeclarable() != "" {
		return paved.ReplicaSetSpec{}, "", false
	}
	r := c.Spec
	spec = paved.ReplicaSetSpec{Name: r.Name, Space: r.Space, GlobalHost: r.GlobalHost,
		App: paved.AppSpec{Name: r.App, Command: "./web"}}
	for _, p := range r.Peers {
		spec.Regions = append(spec.Regions, p.Region)
	}
	field = c.Field
	switch {
	case field == "app":
		field = "app.name"
	case field == "peers":
		field = "regions"
	case strings.HasPrefix(field, "peers["):
		field = strings.TrimSuffix(strings.Replace(field, "peers[", "regions[", 1), ".region")
	}
	return spec, field, true
}

// Undeclarable says why no front end declares a replica set whose records
// are the case's ("" when one does).
func (c ReplicaSetCase) Undeclarable() string {
	switch {
	case len(c.Spec.Peers) == 0:
		return "a declared replica set has a region; a record without peers is what the fan-out writes when it knows no region's router"
	case strings.HasSuffix(c.Field, ".router"):
		return "routers are not declared: the fan-out reads each region's from its cell"
	}
	return ""
}

// EnvironmentCase is an environment's spec and the field the library
// refuses it at ("" = valid).
type EnvironmentCase struct {
	Name  string
	Spec  paved.EnvironmentSpec
	Field string
}

// Environments is the environment corpus: valid specs, and one of each
// kind of invalid (every field EnvironmentSpec.Validate checks). Each
// clones the space "prod", whose apps are "web" and "api"; source is the
// digest of an uploaded archive. What the cell checks against its store
// (the space and its apps exist, the source was uploaded) is not here: no
// other judge can see it.
func Environments(source string) []EnvironmentCase {
	hour := paved.Duration(time.Hour)
	env := func(edit func(*paved.EnvironmentSpec)) paved.EnvironmentSpec {
		s := paved.EnvironmentSpec{Name: "pr-1", FromSpace: "prod", TTL: hour}
		edit(&s)
		return s
	}
	ttl := func(v string) paved.EnvironmentSpec {
		return env(func(s *paved.EnvironmentSpec) { s.TTL = d(v) })
	}
	override := func(app string, o paved.AppOverride) paved.EnvironmentSpec {
		return env(func(s *paved.EnvironmentSpec) { s.Overrides = map[string]paved.AppOverride{app: o} })
	}
	return []EnvironmentCase{
		// Valid.
		{"minimal", env(func(*paved.EnvironmentSpec) {}), ""},
		{"everything", env(func(s *paved.EnvironmentSpec) {
			s.DestroyOnSuccess = true
			s.Overrides = map[string]paved.AppOverride{
				"web": {Source: source, Instances: ptr(2), Env: map[string]string{"FEATURE_X": "on", "_DEBUG": "1"}},
				"api": {Instances: ptr(0)},
			}
		}), ""},
		{"the shortest ttl", ttl("1s"), ""},
		{"the longest ttl", ttl("720h"), ""},
		{"an empty override", override("web", paved.AppOverride{}), ""},

		// One of each kind of invalid.
		{"no name", env(func(s *paved.EnvironmentSpec) { s.Name = "" }), "name"},
		{"name with capitals", env(func(s *paved.EnvironmentSpec) { s.Name = "PR-1" }), "name"},
		{"name of 64 characters", env(func(s *paved.EnvironmentSpec) { s.Name = strings.Repeat("p", 64) }), "name"},
		{"no from_space", env(func(s *paved.EnvironmentSpec) { s.FromSpace = "" }), "from_space"},
		{"from_space with an underscore", env(func(s *paved.EnvironmentSpec) { s.FromSpace = "pr_od" }), "from_space"},
		{"no ttl", ttl("0s"), "ttl"},
		{"ttl under a second", ttl("500ms"), "ttl"},
		{"ttl negative", ttl("-1h"), "ttl"},
		{"ttl over 30 days", ttl("721h"), "ttl"},
		{"override of a name that is no app name", override("We_b", paved.AppOverride{}), "overrides.We_b"},
		{"override source not a digest", override("web", paved.AppOverride{Source: "abc"}), "overrides.web.source"},
		{"override source in capitals", override("web", paved.AppOverride{Source: strings.ToUpper(source)}), "overrides.web.source"},
		{"override instances negative", override("web", paved.AppOverride{Instances: ptr(-1)}), "overrides.web.instances"},
		{"override of too many instances", override("web", paved.AppOverride{Instances: ptr(paved.MaxAppInstances + 1)}), "overrides.web.instances"},
		{"override env name starting with a digit", override("web", paved.AppOverride{Env: map[string]string{"1X": "x"}}), "overrides.web.env.1X"},
		{"override env PORT", override("api", paved.AppOverride{Env: map[string]string{"PORT": "80"}}), "overrides.api.env.PORT"},
	}
}

// Declared is the environment as a front end declares it: without the
// override sources' digests, which a front end computes from paths.
func (c EnvironmentCase) Declared() paved.EnvironmentSpec {
	s := c.Spec
	if s.Overrides != nil {
		s.Overrides = make(map[string]paved.AppOverride, len(c.Spec.Overrides))
		for app, o := range c.Spec.Overrides {
			o.Source = ""
			s.Overrides[app] = o
		}
	}
	return s
}

// Undeclarable says why a front end's inputs cannot declare the case's
// spec ("" when they can).
func (c EnvironmentCase) Undeclarable() string {
	if strings.HasPrefix(c.Field, "overrides.") && strings.HasSuffix(c.Field, ".source") {
		return "an override's source is a path there; its digest is computed"
	}
	return ""
}

// d reads a duration as users write it.
func d(s string) paved.Duration {
	v, err := time.ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return paved.Duration(v)
}

func ptr[T any](v T) *T { return &v }
