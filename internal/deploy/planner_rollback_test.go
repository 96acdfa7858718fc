package deploy

import (
	"strings"
	"testing"
	"time"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// A rollback whose old release never comes back gives up at the deadline,
// so the app is not stuck and a fix can be deployed.
func TestPlanRollbackGivesUpAtDeadline(t *testing.T) {
	deadline := paved.Duration(time.Minute)
	s := Resolve(&paved.DeploymentSpec{ProgressDeadline: &deadline})
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	p := Rollback(Progress{Phase: PhaseRolling, Ready: 3}, "instance x crashed 3 times", t0)
	o := Observation{Now: t0.Add(30 * time.Second), Want: 2, HasOld: true,
		Old: []Inst{{ID: "old-1", Healthy: false, Crashes: 9}, {ID: "old-2", Healthy: false}}}
	if d := Plan(s, p, o); d.Outcome != Continue {
		t.Fatalf("before the deadline: %+v", d)
	}
	o.Now = t0.Add(2 * time.Minute)
	d := Plan(s, p, o)
	if d.Outcome != Failed || !strings.Contains(d.Reason, "rollback did not complete") || !strings.Contains(d.Reason, "instance x crashed") {
		t.Fatalf("after the deadline: %+v", d)
	}
	// Progress of the old release resets the clock.
	o.Now = t0.Add(50 * time.Second)
	o.Old[0].Healthy = true
	d = Plan(s, p, o)
	if d.Outcome != Continue || !d.Progress.LastProgress.Equal(o.Now) {
		t.Fatalf("an old instance came back, but no progress recorded: %+v", d)
	}
}

// A superseded rollback ends as soon as the new instances are gone: the
// next deployment takes over, even if the old release is not healthy.
func TestPlanSupersededRollbackEndsWhenNewIsGone(t *testing.T) {
	s := Resolve(nil)
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	p := Rollback(Progress{Phase: PhaseRolling}, "superseded by a newer change", t0)
	p.Superseded = true
	o := Observation{Now: t0, Want: 2, HasOld: true, Old: []Inst{{ID: "old-1", Healthy: false}},
		New: []Inst{{ID: "new-1", Healthy: true, Role: RoleActive}}}
	d := Plan(s, p, o)
	if d.Outcome != Continue || len(d.Stop) != 1 || d.Stop[0] != "new-1" {
		t.Fatalf("with new instances left: %+v", d)
	}
	o.New = nil
	if d := Plan(s, p, o); d.Outcome != RolledBack {
		t.Fatalf("new instances gone: %+v", d)
	}
}
