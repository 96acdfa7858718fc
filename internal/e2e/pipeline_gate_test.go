package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// TestPipelineGatesGoodRelease: with a gating pipeline, a release that
// rolled out healthy becomes good only when the gating job passed it.
func TestPipelineGatesGoodRelease(t *testing.T) {
	c := startCell(t)
	c.pushHello("prod", "web", "web.example.test", 1)
	// The gate passes a release that greets as gated and rejects any other.
	// (It cannot read a file of the test's: an assert command runs in the
	// space's sandbox.)
	c.setPipelineIn(t, "prod", `name: gate
sources:
  - {name: web-release, type: app_release, app: web, gate: true, check_every: 1s}
jobs:
  - name: verify
    plan:
      - {get: web-release, trigger: true}
      - {assert: answers, http: {url: "router:/", host: web.example.test, contains: "hello"}}
      - {assert: not-rejected, http: {url: "router:/", host: web.example.test, contains: "gated"}}
`)
	ctx := context.Background()
	before := c.appShow("prod", "web").LastGoodRelease

	// A release the gate passes becomes good, and the snapshot has it.
	next := updateApp(t, c, "prod", "web", withEnv("GREETING", "hello gated"))
	eventually(t, 60*time.Second, "the gate makes the release good", func() error {
		v := c.appShow("prod", "web")
		if v.LastGoodRelease != next.Release {
			return fmt.Errorf("last good %d, running %d", v.LastGoodRelease, v.Release)
		}
		return nil
	})
	if next.Release == before {
		t.Fatalf("no new release")
	}
	snaps, _ := c.client.Snapshots.List(ctx, "prod")
	if len(snaps) == 0 || snaps[0].Releases["web"] != next.Release {
		t.Fatalf("snapshot after the gate: %+v", snaps)
	}

	// A release the gate rejects runs, but never becomes good.
	rejected := updateApp(t, c, "prod", "web", withEnv("GREETING", "hello rejected"))
	eventually(t, 60*time.Second, "the gate fails the release", func() error {
		bs, err := c.client.Pipelines.Builds(ctx, "prod", "gate", "verify")
		if err != nil || len(bs) == 0 || bs[0].Inputs["web-release"] != fmt.Sprint(rejected.Release) || bs[0].FinishedAt == nil {
			return fmt.Errorf("no finished gate build of release %d yet", rejected.Release)
		}
		if bs[0].Status != paved.BuildFailed {
			return fmt.Errorf("gate build %s", bs[0].Status)
		}
		return nil
	})
	time.Sleep(1500 * time.Millisecond)
	if v := c.appShow("prod", "web"); v.Release != rejected.Release || v.LastGoodRelease != next.Release {
		t.Fatalf("after a rejected release: running %d, last good %d (want %d)", v.Release, v.LastGoodRelease, next.Release)
	}
	rels := releaseStatus(t, c, "prod", "web")
	if rels[rejected.Release].Status == paved.ReleaseGood {
		t.Fatalf("the rejected release is good")
	}
}
