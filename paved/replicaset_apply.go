package paved

// This file is the multi-region apply controller of replica sets: it fans
// a replica set's spec out to every region's cell, in parallel or canary
// region first, and reports each region's state. The wire records the
// cells keep (ReplicaSetRecord and its API) are in replicasets.go.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
)

// Rollouts of a replica set over its regions.
const (
	// RolloutCanaryRegion rolls the first reachable region out alone and
	// the others in parallel once it has converged (the default): a release
	// that fails there fails in one region, not everywhere.
	RolloutCanaryRegion = "canary_region"
	// RolloutParallel rolls every region out at once.
	RolloutParallel = "parallel"
)

// Region statuses of a replica set.
const (
	RegionReady    = "ready"    // the record is in place and the app has settled running (or stopped)
	RegionDegraded = "degraded" // unreachable, or the app failed, is rolling out or is missing
	RegionMissing  = "missing"  // the cell has no record of the replica set
	RegionSkipped  = "skipped"  // left as it was: the canary region failed
	RegionApplying = "applying" // only seen by Apply's progress callback
)

// ReplicaSetSpec is a replica set as a user declares it: one app in several
// regions behind one global host, which every region's router serves.
type ReplicaSetSpec struct {
	Name string
	// Regions are names that Regions knows. Order matters: the first
	// reachable one is the canary region of a canary_region rollout.
	Regions []string
	// MinHealthyRegions is how many regions must converge for Apply to
	// succeed; the others are reported degraded and converge on the next
	// apply. Default (0) is 1: availability first.
	MinHealthyRegions int
	// Space holds the app in every region; it is created where missing and
	// never deleted (other apps may live in it).
	Space string
	// App is the app's spec; App.Source, when empty, is the digest of Source.
	// App.SecretEnv goes to every region (nil keeps what each region's app
	// has, so give it on every apply that may create the app in a region).
	App AppSpec
	// Source is the source archive, uploaded to each region that lacks it.
	Source     []byte
	GlobalHost string
	// Rollout is RolloutCanaryRegion (default) or RolloutParallel.
	Rollout string
}

// Validate checks the spec without calling any cell and returns every
// problem with its field. known, when not nil, lists the configured
// regions (Regions.Names).
func (s ReplicaSetSpec) Validate(known []string) []FieldError {
	var errs fieldErrors
	errs.label("name", "replica set name", s.Name)
	errs.label("space", "space name", s.Space)
	errs.label("app.name", "app name", s.App.Name)
	if len(s.Regions) == 0 {
		errs.fail("regions", "a replica set needs at least one region")
	}
	errs.regions("regions", func(i int) string { return fmt.Sprintf("regions[%d]", i) }, s.Regions, known)
	if n := len(s.Regions); n > 0 && (s.MinHealthyRegions < 0 || s.MinHealthyRegions > n) {
		errs.fail("min_healthy_regions", "min_healthy_regions is %d but regions lists %d: it must be between 1 and %d",
			s.MinHealthyRegions, n, n)
	}
	if err := checkGlobalHost(s.GlobalHost); err != nil {
		errs.fail("global_host", "%v", err)
	}
	if s.Rollout != "" && s.Rollout != RolloutCanaryRegion && s.Rollout != RolloutParallel {
		errs.fail("rollout", "rollout %q must be %q or %q", s.Rollout, RolloutCanaryRegion, RolloutParallel)
	}
	if len(s.Source) > 0 && s.App.Source != "" && s.App.Source != sourceDigest(s.Source) {
		errs.fail("app.source", "the app names source %s but the source bytes are %s", shortDigest(s.App.Source), shortDigest(sourceDigest(s.Source)))
	}
	return errs
}

func configuredRegions(known []string) string {
	if len(known) == 0 {
		return "no regions are configured"
	}
	return "the configured regions are " + strings.Join(known, ", ")
}

func sourceDigest(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func shortDigest(d string) string { return d[:min(len(d), 12)] }

// withDefaults fills what Validate allows to be left out.
func (s ReplicaSetSpec) withDefaults() ReplicaSetSpec {
	if s.MinHealthyRegions == 0 {
		s.MinHealthyRegions = 1
	}
	if s.Rollout == "" {
		s.Rollout = RolloutCanaryRegion
	}
	if s.App.Source == "" && len(s.Source) > 0 {
		s.App.Source = sourceDigest(s.Source)
	}
	return s
}

// SpecErrors is what Validate found, returned by Apply before it calls any
// cell. errors.Is(err, ErrValidation) holds.
type SpecErrors []FieldError

func (e SpecErrors) Error() string {
	msgs := make([]string, len(e))
	for i, fe := range e {
		msgs[i] = fe.Error()
	}
	return "invalid replica set: " + strings.Join(msgs, "; ")
}

// Is makes errors.Is(err, ErrValidation) true.
func (e SpecErrors) Is(target error) bool { return target == ErrValidation }

// RegionStatus is one region of a replica set.
type RegionStatus struct {
	Region string
	Status string // RegionReady, RegionDegraded, RegionMissing, RegionSkipped (RegionApplying in progress)
	// Reason says why the region is not ready (or, while applying, what it does).
	Reason           string
	Cloud            string
	Release          int
	RunningInstances int
	// Record and App are what the cell holds (nil when unreachable or missing).
	Record *ReplicaSetRecord
	App    *App
}

// Ready tells whether the region has converged.
func (s RegionStatus) Ready() bool { return s.Status == RegionReady }

// String is one line for a summary: "gcp-europe-west2: degraded: cannot reach …".
func (s RegionStatus) String() string {
	if s.Ready() {
		return fmt.Sprintf("%s: ready (release %d, %d running)", s.Region, s.Release, s.RunningInstances)
	}
	if s.Reason == "" {
		return s.Region + ": " + s.Status
	}
	return s.Region + ": " + s.Status + ": " + s.Reason
}

// ReplicaSetStatus is a replica set across its regions.
type ReplicaSetStatus struct {
	Name string
	// Space, App and GlobalHost as the records name them (Read takes them
	// from the first region that has a record).
	Space      string
	App        string
	GlobalHost string
	// Regions in the order they were asked for.
	Regions []RegionStatus
}

// Ready counts the regions that have converged.
func (s *ReplicaSetStatus) Ready() int {
	n := 0
	for _, r := range s.Regions {
		if r.Ready() {
			n++
		}
	}
	return n
}

// Region finds one region's status.
func (s *ReplicaSetStatus) Region(name string) (RegionStatus, bool) {
	for _, r := range s.Regions {
		if r.Region == name {
			return r, true
		}
	}
	return RegionStatus{}, false
}

// Summary is one line per region.
func (s *ReplicaSetStatus) Summary() string {
	lines := make([]string, len(s.Regions))
	for i, r := range s.Regions {
		lines[i] = "  " + r.String()
	}
	return strings.Join(lines, "\n")
}

// ReplicaSetError is an apply that did not converge enough regions. Status
// holds every region's outcome; the message is a per-region summary.
type ReplicaSetError struct {
	Status *ReplicaSetStatus
	// CanaryRegion is set when the canary region failed; the other regions
	// were then left as they were.
	CanaryRegion      string
	MinHealthyRegions int
}

func (e *ReplicaSetError) Error() string {
	if e.CanaryRegion != "" {
		return fmt.Sprintf("replica set %s: the canary region %s did not converge, so the other regions were left as they were:\n%s",
			e.Status.Name, e.CanaryRegion, e.Status.Summary())
	}
	return fmt.Sprintf("replica set %s: %d of %d regions converged, %d needed (min_healthy_regions):\n%s",
		e.Status.Name, e.Status.Ready(), len(e.Status.Regions), e.MinHealthyRegions, e.Status.Summary())
}

// HostHolder is a replica set holding a global host on one region's cell.
type HostHolder struct {
	Region     string
	ReplicaSet string
}

// ReplicaSets fans replica sets out over Regions. Each region's cell gets
// the app and a ReplicaSetRecord naming every peer region, so its router
// serves the global host locally and fails over to peers by itself.
type ReplicaSets interface {
	// Apply creates or updates the replica set in every region of spec and
	// waits for the rollouts. Each reachable region gets, in order: the
	// space (when missing), the record (so its router serves the global
	// host at once, failing over to peers while its own app is not
	// healthy), the source and the app. Peers are the regions whose cells
	// answered; the others are degraded and join on the next apply.
	// A canary_region rollout stops after a failed canary region. Fewer
	// than MinHealthyRegions converged is a *ReplicaSetError (with the
	// status); progress, when set, is called (never concurrently) as
	// regions start, change step and finish.
	Apply(ctx context.Context, spec ReplicaSetSpec, progress func(RegionStatus)) (*ReplicaSetStatus, error)
	// Read reports the replica set in the named regions (nil: every
	// configured region): ready, degraded or missing, with the reason.
	Read(ctx context.Context, name string, regions []string) (*ReplicaSetStatus, error)
	// Delete removes the app and the record from the named regions (nil:
	// every configured region); one already gone is fine, an unreachable
	// region is an error naming it. The space is left alone.
	Delete(ctx context.Context, name string, regions []string) error
	// HostHolders lists the replica sets holding host in the reachable
	// named regions (unreachable regions are skipped).
	HostHolders(ctx context.Context, host string, regions []string) []HostHolder
}

type replicaSets struct{ r *Regions }

var _ ReplicaSets = replicaSets{}

func (s replicaSets) Apply(ctx context.Context, spec ReplicaSetSpec, progress func(RegionStatus)) (*ReplicaSetStatus, error) {
	if errs := spec.Validate(s.r.Names()); len(errs) > 0 {
		return nil, SpecErrors(errs)
	}
	spec = spec.withDefaults()
	health := s.r.health(ctx, spec.Regions)
	run := newRegionRollout(s.r, spec, peersOf(spec.Regions, health), progress)
	var reachable []string
	for _, name := range spec.Regions {
		if h := health[name]; h.Healthy {
			reachable = append(reachable, name)
		} else {
			run.finish(RegionStatus{Region: name, Status: RegionDegraded, Reason: h.Err.Error(), Cloud: h.Cloud})
		}
	}
	if spec.Rollout == RolloutCanaryRegion && len(reachable) > 0 {
		canary := reachable[0]
		reachable = reachable[1:]
		// An unreachable first region says nothing about the release, so
		// the first reachable one is the canary: availability first.
		if !run.apply(ctx, canary, health[canary]).Ready() {
			for _, name := range reachable {
				run.finish(RegionStatus{Region: name, Status: RegionSkipped, Cloud: health[name].Cloud,
					Reason: "not rolled out: the canary region " + canary + " did not converge"})
			}
			status := run.status()
			return status, &ReplicaSetError{Status: status, CanaryRegion: canary}
		}
	}
	s.r.each(reachable, s.r.clients, func(name string, _ *Client) { run.apply(ctx, name, health[name]) })
	status := run.status()
	if status.Ready() < spec.MinHealthyRegions {
		return status, &ReplicaSetError{Status: status, MinHealthyRegions: spec.MinHealthyRegions}
	}
	return status, nil
}

// peersOf is every region of the set that another cell can fail over to:
// those whose cells answered with their router's address.
func peersOf(regions []string, health map[string]RegionHealth) []Peer {
	var peers []Peer
	for _, name := range regions {
		if h := health[name]; h.Healthy && h.RouterAddr != "" {
			peers = append(peers, Peer{Region: name, Router: h.RouterAddr, TLS: h.RouterTLS})
		}
	}
	return peers
}

// regionRollout is one Apply: the regions' outcomes as they come in.
type regionRollout struct {
	regions  *Regions
	spec     ReplicaSetSpec
	record   ReplicaSetRecord
	progress func(RegionStatus)

	mu      sync.Mutex
	results map[string]RegionStatus
}

func newRegionRollout(r *Regions, spec ReplicaSetSpec, peers []Peer, progress func(RegionStatus)) *regionRollout {
	rec := ReplicaSetRecord{Name: spec.Name, Space: spec.Space, App: spec.App.Name, GlobalHost: spec.GlobalHost, Peers: peers}
	return &regionRollout{regions: r, spec: spec, record: rec, progress: progress, results: map[string]RegionStatus{}}
}

// report passes a status to the progress callback, one call at a time.
func (run *regionRollout) report(st RegionStatus) {
	if run.progress == nil {
		return
	}
	run.mu.Lock()
	defer run.mu.Unlock()
	run.progress(st)
}

func (run *regionRollout) finish(st RegionStatus) RegionStatus {
	run.mu.Lock()
	run.results[st.Region] = st
	run.mu.Unlock()
	run.report(st)
	return st
}

func (run *regionRollout) status() *ReplicaSetStatus {
	out := &ReplicaSetStatus{Name: run.spec.Name, Space: run.spec.Space, App: run.spec.App.Name, GlobalHost: run.spec.GlobalHost}
	for _, name := range run.spec.Regions {
		out.Regions = append(out.Regions, run.results[name])
	}
	return out
}

// apply rolls one region out and records its outcome.
func (run *regionRollout) apply(ctx context.Context, name string, h RegionHealth) RegionStatus {
	c, _ := run.regions.Client(name)
	base := RegionStatus{Region: name, Cloud: h.Cloud}
	step := func(what string) {
		st := base
		st.Status, st.Reason = RegionApplying, what
		run.report(st)
	}
	degraded := func(what string, err error) RegionStatus {
		st := base
		st.Status, st.Reason = RegionDegraded, what+": "+err.Error()
		return run.finish(st)
	}
	spec := run.spec
	step("creating space " + spec.Space)
	if _, err := c.Spaces.Create(ctx, SpaceSpec{Name: spec.Space}); err != nil && !errors.Is(err, ErrConflict) {
		return degraded("create space "+spec.Space, err)
	}
	step("recording the replica set")
	rec, err := c.ReplicaSets.Put(ctx, run.record)
	if err != nil {
		return degraded("record the replica set", err)
	}
	base.Record = rec
	if len(spec.Source) > 0 {
		step("uploading the source")
		if _, _, err := c.Sources.Ensure(ctx, spec.Source, nil); err != nil {
			return degraded("upload the source", err)
		}
	}
	step("applying app " + spec.App.Name)
	if err := upsertApp(ctx, c, spec.Space, spec.App); err != nil {
		return degraded("apply app "+spec.Space+"/"+spec.App.Name, err)
	}
	step("rolling out")
	ro, err := WaitRollout(ctx, c, spec.Space, spec.App.Name, RolloutOptions{})
	if err != nil {
		return degraded("wait for the rollout of "+spec.Space+"/"+spec.App.Name, err)
	}
	return run.finish(withApp(base, ro.App))
}

// upsertApp creates the app, or updates it when it exists.
func upsertApp(ctx context.Context, c *Client, space string, spec AppSpec) error {
	_, err := c.Apps.Get(ctx, space, spec.Name)
	switch {
	case IsNotFound(err):
		_, err = c.Apps.Create(ctx, space, spec)
	case err == nil:
		_, err = c.Apps.Update(ctx, space, spec)
	}
	return err
}

// withApp judges a region by its app: ready once it has settled and its
// rollout succeeded (JudgeRollout), as a single-cell apply would.
func withApp(st RegionStatus, a *App) RegionStatus {
	st.App, st.Release, st.RunningInstances = a, a.Release, a.RunningCount
	if a.Settled() && JudgeRollout(a, nil).Succeeded() {
		st.Status, st.Reason = RegionReady, ""
		return st
	}
	st.Status = RegionDegraded
	st.Reason = fmt.Sprintf("app %s/%s is %s", a.Space, a.Name, a.Status)
	if !a.Settled() && a.Status == AppRunning {
		st.Reason = fmt.Sprintf("app %s/%s is rolling out", a.Space, a.Name)
	}
	if a.Message != "" {
		st.Reason += ": " + a.Message
	}
	return st
}

func (s replicaSets) Read(ctx context.Context, name string, regions []string) (*ReplicaSetStatus, error) {
	regions, err := s.r.known(regions)
	if err != nil {
		return nil, err
	}
	health := s.r.health(ctx, regions)
	results := map[string]RegionStatus{}
	var mu sync.Mutex
	s.r.each(regions, s.r.clients, func(region string, c *Client) {
		st := readRegion(ctx, c, name, health[region])
		mu.Lock()
		results[region] = st
		mu.Unlock()
	})
	markStalePeers(results, health)
	out := &ReplicaSetStatus{Name: name}
	for _, region := range regions {
		st := results[region]
		if rec := st.Record; rec != nil && out.GlobalHost == "" {
			out.Space, out.App, out.GlobalHost = rec.Space, rec.App, rec.GlobalHost
		}
		out.Regions = append(out.Regions, st)
	}
	return out, nil
}

func readRegion(ctx context.Context, c *Client, name string, h RegionHealth) RegionStatus {
	st := RegionStatus{Region: h.Region, Cloud: h.Cloud, Status: RegionDegraded}
	if !h.Healthy {
		st.Reason = h.Err.Error()
		return st
	}
	rec, err := c.ReplicaSets.Get(ctx, name)
	if IsNotFound(err) {
		st.Status, st.Reason = RegionMissing, "the cell has no record of replica set "+name
		return st
	}
	if err != nil {
		st.Reason = "read the record: " + err.Error()
		return st
	}
	st.Record = rec
	a, err := c.Apps.Get(ctx, rec.Space, rec.App)
	if IsNotFound(err) {
		st.Reason = fmt.Sprintf("app %s/%s does not exist (its router fails over to peers)", rec.Space, rec.App)
		return st
	}
	if err != nil {
		st.Reason = fmt.Sprintf("read app %s/%s: %v", rec.Space, rec.App, err)
		return st
	}
	return withApp(st, a)
}

// markStalePeers degrades a ready region whose record does not fail over
// to every other region holding the set at its current router address
// (one that was down at the last apply, or moved): the next apply fixes it.
func markStalePeers(results map[string]RegionStatus, health map[string]RegionHealth) {
	for region, st := range results {
		if !st.Ready() {
			continue
		}
		var stale []string
		for other, ost := range results {
			if other == region || ost.Record == nil || health[other].RouterAddr == "" {
				continue
			}
			if !slices.Contains(st.Record.Peers, Peer{Region: other, Router: health[other].RouterAddr, TLS: health[other].RouterTLS}) {
				stale = append(stale, other)
			}
		}
		if len(stale) > 0 {
			sort.Strings(stale)
			st.Status = RegionDegraded
			st.Reason = "its record does not fail over to " + strings.Join(stale, ", ") + " yet (apply again)"
			results[region] = st
		}
	}
}

func (s replicaSets) Delete(ctx context.Context, name string, regions []string) error {
	regions, err := s.r.known(regions)
	if err != nil {
		return err
	}
	var mu sync.Mutex
	var errs []error
	s.r.each(regions, s.r.clients, func(region string, c *Client) {
		if err := deleteRegion(ctx, c, name); err != nil {
			mu.Lock()
			errs = append(errs, fmt.Errorf("region %s: %w", region, err))
			mu.Unlock()
		}
	})
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return errors.Join(errs...)
}

// deleteRegion removes the app before the record: a delete that fails
// half-way finds the record, and so the app, when it is retried.
func deleteRegion(ctx context.Context, c *Client, name string) error {
	rec, err := c.ReplicaSets.Get(ctx, name)
	if IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := c.Apps.Delete(ctx, rec.Space, rec.App); err != nil && !IsNotFound(err) {
		return fmt.Errorf("delete app %s/%s: %w", rec.Space, rec.App, err)
	}
	if err := c.ReplicaSets.Delete(ctx, name); err != nil && !IsNotFound(err) {
		return fmt.Errorf("delete the record: %w", err)
	}
	return nil
}

func (s replicaSets) HostHolders(ctx context.Context, host string, regions []string) []HostHolder {
	var mu sync.Mutex
	var out []HostHolder
	s.r.each(regions, s.r.probes, func(region string, c *Client) {
		ctx, cancel := context.WithTimeout(ctx, RegionTimeout)
		defer cancel()
		recs, err := c.ReplicaSets.List(ctx)
		if err != nil {
			return // unreachable now: the apply reports it
		}
		for _, rec := range recs {
			if rec.GlobalHost == host {
				mu.Lock()
				out = append(out, HostHolder{Region: region, ReplicaSet: rec.Name})
				mu.Unlock()
			}
		}
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Region < out[j].Region })
	return out
}

// known returns regions, or every configured region when nil, and fails on
// a name that is not configured.
func (r *Regions) known(regions []string) ([]string, error) {
	if regions == nil {
		return r.Names(), nil
	}
	for _, name := range regions {
		if !r.Has(name) {
			return nil, fmt.Errorf("region %q is not configured; %s", name, configuredRegions(r.Names()))
		}
	}
	return regions, nil
}
