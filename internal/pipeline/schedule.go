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
	built := map[string]map[string]bool{} // job → inputs key
	active := map[string]int{}
	for _, b := range past {
		if built[b.Job] == nil {
			built[b.Job] = map[string]bool{}
		}
		built[b.Job][idKey(b.Inputs)] = true
		if b.Status == paved.BuildPending || b.Status == paved.BuildRunning {
			active[b.Job]++
		}
	}
	var out []Want
	for _, job := range spec.Jobs {
		limit := job.MaxInFlight
		if job.Serial {
			limit = 1
		}
		for _, w := range candidates(job, versions, passed) {
			key := store.InputsKey(w)
			if built[job.Name][key] {
				continue
			}
			if limit > 0 && active[job.Name] >= limit {
				break
			}
			if built[job.Name] == nil {
				built[job.Name] = map[string]bool{}
			}
			built[job.Name][key] = true
			active[job.Name]++
			out = append(out, Want{Job: job.Name, Inputs: w})
		}
	}
	return out
}

// candidates lists the input sets a job could build now, oldest first: one
// per version of an `every` trigger, else the newest eligible versions.
func candidates(job paved.JobSpec, versions map[string][]paved.SourceVersion, passed map[string]map[int64]map[string]bool) []map[string]store.Input {
	gets := getSteps(job.Plan)
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

// getSteps finds every get of a plan, including inside in_parallel and try.
func getSteps(plan []paved.Step) []paved.Step {
	var out []paved.Step
	var walk func(s paved.Step)
	walk = func(s paved.Step) {
		switch {
		case s.Get != "":
			out = append(out, s)
		case len(s.InParallel) > 0:
			for _, sub := range s.InParallel {
				walk(sub)
			}
		case s.Try != nil:
			walk(*s.Try)
		}
	}
	for _, s := range plan {
		walk(s)
	}
	return out
}

func idKey(in map[string]int64) string {
	refs := map[string]store.Input{}
	for k, id := range in {
		refs[k] = store.Input{ID: id}
	}
	return store.InputsKey(refs)
}
