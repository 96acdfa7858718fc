package paved_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// fakeCell is the part of a cell's API the multi-region fan-out uses:
// health, spaces, sources, apps and replica-set records. Apps settle at
// once: running, or failed (rolled back) when failRollouts is set.
type fakeCell struct {
	region       string
	routerAddr   string
	routerTLS    bool // health says tls: true
	failRollouts bool

	mu      sync.Mutex
	spaces  map[string]bool
	sources map[string]bool
	apps    map[string]*paved.App // by space/name
	records map[string]paved.ReplicaSetRecord
	writes  int

	srv *httptest.Server
}

func newFakeCell(t *testing.T, region string) *fakeCell {
	t.Helper()
	f := &fakeCell{region: region, routerAddr: "127.0.0.1:" + fmt.Sprint(7480+len(region)),
		spaces: map[string]bool{}, sources: map[string]bool{}, apps: map[string]*paved.App{}, records: map[string]paved.ReplicaSetRecord{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/health", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, paved.CellHealth{Status: "ok", Region: f.region, Cloud: "cloud-of-" + f.region, Version: "test", RouterAddr: f.routerAddr, TLS: f.routerTLS})
	})
	mux.HandleFunc("POST /v1/spaces", f.locked(f.createSpace))
	mux.HandleFunc("HEAD /v1/sources/{digest}", f.locked(func(w http.ResponseWriter, r *http.Request) {
		if !f.sources[r.PathValue("digest")] {
			w.WriteHeader(404)
		}
	}))
	mux.HandleFunc("PUT /v1/sources/{digest}", f.locked(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		f.sources[r.PathValue("digest")] = true
		writeJSON(w, 200, paved.Source{Digest: r.PathValue("digest")})
	}))
	mux.HandleFunc("POST /v1/spaces/{space}/apps", f.locked(f.putApp))
	mux.HandleFunc("PUT /v1/spaces/{space}/apps/{app}", f.locked(f.putApp))
	mux.HandleFunc("GET /v1/spaces/{space}/apps/{app}", f.locked(func(w http.ResponseWriter, r *http.Request) {
		a, ok := f.apps[r.PathValue("space")+"/"+r.PathValue("app")]
		if !ok {
			writeAPIError(w, 404, paved.CodeNotFound, "no such app", "")
			return
		}
		writeJSON(w, 200, a)
	}))
	mux.HandleFunc("DELETE /v1/spaces/{space}/apps/{app}", f.locked(func(w http.ResponseWriter, r *http.Request) {
		key := r.PathValue("space") + "/" + r.PathValue("app")
		if _, ok := f.apps[key]; !ok {
			writeAPIError(w, 404, paved.CodeNotFound, "no such app", "")
			return
		}
		delete(f.apps, key)
		w.WriteHeader(204)
	}))
	mux.HandleFunc("GET /v1/replica-sets", f.locked(func(w http.ResponseWriter, r *http.Request) {
		var out []paved.ReplicaSetRecord
		for _, rec := range f.records {
			out = append(out, rec)
		}
		writeJSON(w, 200, map[string]any{"replica_sets": out})
	}))
	mux.HandleFunc("GET /v1/replica-sets/{name}", f.locked(func(w http.ResponseWriter, r *http.Request) {
		rec, ok := f.records[r.PathValue("name")]
		if !ok {
			writeAPIError(w, 404, paved.CodeNotFound, "no such replica set", "")
			return
		}
		writeJSON(w, 200, rec)
	}))
	mux.HandleFunc("PUT /v1/replica-sets/{name}", f.locked(f.putRecord))
	mux.HandleFunc("DELETE /v1/replica-sets/{name}", f.locked(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := f.records[r.PathValue("name")]; !ok {
			writeAPIError(w, 404, paved.CodeNotFound, "no such replica set", "")
			return
		}
		delete(f.records, r.PathValue("name"))
		w.WriteHeader(204)
	}))
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// locked serialises the handlers and counts the writes a cell receives.
func (f *fakeCell) locked(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			f.writes++
		}
		h(w, r)
	}
}

func (f *fakeCell) createSpace(w http.ResponseWriter, r *http.Request) {
	var spec paved.SpaceSpec
	json.NewDecoder(r.Body).Decode(&spec)
	if f.spaces[spec.Name] {
		writeAPIError(w, 409, paved.CodeConflict, "space exists", "name")
		return
	}
	f.spaces[spec.Name] = true
	writeJSON(w, 201, paved.Space{Name: spec.Name})
}

func (f *fakeCell) putApp(w http.ResponseWriter, r *http.Request) {
	var spec paved.AppSpec
	json.NewDecoder(r.Body).Decode(&spec)
	space := r.PathValue("space")
	if !f.spaces[space] {
		writeAPIError(w, 404, paved.CodeNotFound, "no such space", "")
		return
	}
	key := space + "/" + spec.Name
	a := f.apps[key]
	if a == nil {
		a = &paved.App{Space: space}
		f.apps[key] = a
	}
	a.AppSpec = spec
	a.Generation++
	a.ObservedGeneration = a.Generation
	if f.failRollouts {
		a.Status, a.Message = paved.AppFailed, "release rolled back: health check failed"
	} else {
		a.Release++
		a.Status, a.Message, a.RunningCount = paved.AppRunning, "", spec.Instances
	}
	writeJSON(w, 200, a)
}

func (f *fakeCell) putRecord(w http.ResponseWriter, r *http.Request) {
	var rec paved.ReplicaSetRecord
	json.NewDecoder(r.Body).Decode(&rec)
	for _, other := range f.records {
		if other.Name != rec.Name && other.GlobalHost == rec.GlobalHost {
			writeAPIError(w, 409, paved.CodeConflict, "global host "+rec.GlobalHost+" is held by replica set "+other.Name, "global_host")
			return
		}
	}
	if !f.spaces[rec.Space] {
		writeAPIError(w, 422, paved.CodeValidation, "no such space", "space")
		return
	}
	f.records[rec.Name] = rec
	writeJSON(w, 200, rec)
}

func (f *fakeCell) record(name string) (paved.ReplicaSetRecord, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rec, ok := f.records[name]
	return rec, ok
}

func (f *fakeCell) app(key string) *paved.App {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.apps[key]
}

func (f *fakeCell) writeCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.writes
}

// newTestRegions configures one region per cell, by the cell's region
// name, plus unreachable regions (closed servers) by name.
func newTestRegions(t *testing.T, cells []*fakeCell, unreachable ...string) *paved.Regions {
	t.Helper()
	cfgs := map[string]paved.Config{}
	quick := func(endpoint string) paved.Config {
		return paved.Config{Endpoint: endpoint, Token: "t", MaxRetries: -1, PollInterval: 1}
	}
	for _, c := range cells {
		cfgs[c.region] = quick(c.srv.URL)
	}
	for _, name := range unreachable {
		dead := httptest.NewServer(http.NotFoundHandler())
		dead.Close()
		cfgs[name] = quick(dead.URL)
	}
	r, err := paved.NewRegions(cfgs)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestNewRegionsNeedsDNSLabels(t *testing.T) {
	_, err := paved.NewRegions(map[string]paved.Config{"EU_West": {Endpoint: "http://127.0.0.1:1"}})
	if err == nil || !strings.Contains(err.Error(), `"EU_West"`) {
		t.Fatalf("err = %v", err)
	}
	_, err = paved.NewRegions(map[string]paved.Config{"eu": {Endpoint: "ftp://x"}})
	if err == nil || !strings.Contains(err.Error(), "region eu") {
		t.Fatalf("err = %v", err)
	}
}

func TestRegionsHealth(t *testing.T) {
	aws, gcp := newFakeCell(t, "aws"), newFakeCell(t, "gcp")
	gcp.routerAddr = "0.0.0.0:7999"
	regions := newTestRegions(t, []*fakeCell{aws, gcp}, "down")
	hs := regions.Health(context.Background())
	if len(hs) != 3 || hs[0].Region != "aws" || hs[1].Region != "down" || hs[2].Region != "gcp" {
		t.Fatalf("health = %+v", hs)
	}
	if !hs[0].Healthy || hs[0].Cloud != "cloud-of-aws" || hs[0].Version != "test" || hs[0].RouterAddr != aws.routerAddr {
		t.Errorf("aws = %+v", hs[0])
	}
	if hs[1].Healthy || hs[1].Err == nil || !strings.Contains(hs[1].Err.Error(), "cannot reach") {
		t.Errorf("down = %+v", hs[1])
	}
	// A router listening on every interface is reached at the API's host.
	if want := strings.TrimPrefix(gcp.srv.URL, "http://"); hs[2].RouterAddr != strings.Split(want, ":")[0]+":7999" {
		t.Errorf("gcp router = %q", hs[2].RouterAddr)
	}
}

func TestRegionsHealthRefusesAMisnamedCell(t *testing.T) {
	cell := newFakeCell(t, "gcp-europe-west2")
	regions, err := paved.NewRegions(map[string]paved.Config{"aws-eu-west-1": {Endpoint: cell.srv.URL, MaxRetries: -1}})
	if err != nil {
		t.Fatal(err)
	}
	h := regions.Health(context.Background())[0]
	if h.Healthy || h.Err == nil || !strings.Contains(h.Err.Error(), `calls itself region "gcp-europe-west2"`) {
		t.Fatalf("health = %+v", h)
	}
}
