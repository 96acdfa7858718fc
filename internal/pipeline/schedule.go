// Package pipeline runs delivery pipelines in the cell: it checks sources
// for new versions (by polling and on webhooks), decides which builds to
// start (schedule.go, a pure function), and runs builds step by step
// (runner.go) with logs and per-step timings.
package pipeline

import (
	"github.com/pavedroad/terraform-provider-paved/internal/store"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

// Past is a build the scheduler knows of.
type Past struct {
	Job    string
	Inputs map[string]int64 // source → version id
	Status string
}

// Want is a build the scheduler asks for.
type Want struct {
	Job    string
	Inputs map[string]store.Input
}

// Schedule decides which builds to create. It is pure: versions (oldest
// first, per source) and the builds so far in, new builds out. A version
// set builds at most once per job, so calling it twice never doubles a
// build, and a job only sees versions that passed every job its get lists.
func Schedule(spec paved.PipelineSpec, versions map[string][]paved.SourceVersion, past []Past) []Want {
	if spec.Paused {
		return nil
	}
	passed := passedIndex(past)
	var out []Want
	for _, job := range spec.Jobs {
		triggers := triggerSources(job)
		// A job rebuilds only for new versions of its trigger inputs: a new
		// version of a non-trigger get is used by the next build, not a reason for one.
		built := map[string]bool{}
		// Builds older than the retained ones were pruned: a job never goes
		// back before its oldest retained build, so pruning cannot make a
		// version build again.
		floor := map[string]int64{}
		active := 0
		for _, b := range past {
			if b.Job != job.Name {
				continue
			}
			for src := range triggers {
				if id, ok := b.Inputs[src]; ok && (floor[src] == 0 || id < floor[src]) {
					floor[src] = id
				}
			}
			built[triggerKey(b.Inputs, triggers)] = true
			if b.Status == paved.BuildPending || b.Status == paved.BuildRunning {
				active++
			}
		}
		limit := job.MaxInFlight
		if job.Serial {
			limit = 1
		}
		for _, w := range candidates(job, versions, passed) {
			ids := map[string]int64{}
			for k, in := range w {
				ids[k] = in.ID
			}
			key := triggerKey(ids, triggers)
			if built[key] || belowFloor(ids, floor) {
				continue
			}
			if limit > 0 && active >= limit {
				break
			}
			built[key] = true
			active++
			out = append(out, Want{Job: job.Name, Inputs: w})
		}
	}
	return out
}

// belowFloor tells whether a trigger input is older than the job's oldest
// retained build of that source.
func belowFloor(ids map[string]int64, floor map[string]int64) bool {
	for src, f := range floor {
		if ids[src] < f {
			return true
		}
	}
	return false
}

// triggerSources names the sources whose gets trigger a job.
func triggerSources(job paved.JobSpec) map[string]bool {
	out := map[string]bool{}
	for _, g := range paved.Gets(job.Plan) {
		if g.Trigger {
			out[g.Get] = true
		}
	}
	return out
}

// triggerKey is the key of a build's trigger inputs only.
func triggerKey(in map[string]int64, triggers map[string]bool) string {
	only := map[string]int64{}
	for k, id := range in {
		if triggers[k] {
			only[k] = id
		}
	}
	return idKey(only)
}

// candidates lists the input sets a job could build now, oldest first: one
// per version of an `every` trigger, else the newest eligible versions.
func candidates(job paved.JobSpec, versions map[string][]paved.SourceVersion, passed map[string]map[int64]map[string]bool) []map[string]store.Input {
	gets := paved.Gets(job.Plan)
	if len(gets) == 0 {
		return nil
	}
	base := map[string]store.Input{}
	every := ""
	var everyVersions []paved.SourceVersion
	triggered := false
	for _, g := range gets {
		eligible := eligibleVersions(g, versions[g.Get], passed)
		if len(eligible) == 0 {
			return nil // an input with no usable version: nothing can build
		}
		triggered = triggered || g.Trigger
		chosen := eligible[len(eligible)-1]
		switch g.Version {
		case "", "latest":
		case "every":
			if g.Trigger {
				every, everyVersions = g.Get, eligible
			}
		default: // pinned
			found := false
			for _, v := range eligible {
				if v.Version == g.Version {
					chosen, found = v, true
				}
			}
			if !found {
				return nil
			}
		}
		base[g.Get] = store.Input{ID: chosen.ID, Version: chosen.Version}
	}
	if !triggered {
		return nil // a job without a trigger runs only when started by hand
	}
	if every == "" {
		return []map[string]store.Input{base}
	}
	var out []map[string]store.Input
	for _, v := range everyVersions {
		in := map[string]store.Input{}
		for k, x := range base {
			in[k] = x
		}
		in[every] = store.Input{ID: v.ID, Version: v.Version}
		out = append(out, in)
	}
	return out
}

// eligibleVersions filters a source's versions to those that passed every
// job the get lists.
func eligibleVersions(g paved.Step, vs []paved.SourceVersion, passed map[string]map[int64]map[string]bool) []paved.SourceVersion {
	if len(g.Passed) == 0 {
		return vs
	}
	var out []paved.SourceVersion
	for _, v := range vs {
		ok := true
		for _, job := range g.Passed {
			if !passed[g.Get][v.ID][job] {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, v)
		}
	}
	return out
}

// passedIndex maps source → version id → jobs whose build of it succeeded.
func passedIndex(past []Past) map[string]map[int64]map[string]bool {
	idx := map[string]map[int64]map[string]bool{}
	for _, b := range past {
		if b.Status != paved.BuildSucceeded {
			continue
		}
		for src, id := range b.Inputs {
			if idx[src] == nil {
				idx[src] = map[int64]map[string]bool{}
			}
			if idx[src][id] == nil {
				idx[src][id] = map[string]bool{}
			}
			idx[src][id][b.Job] = true
		}
	}
	return idx
}

func idKey(in map[string]int64) string {
	refs := map[string]store.Input{}
	for k, id := range in {
		refs[k] = store.Input{ID: id}
	}
	return store.InputsKey(refs)
}
