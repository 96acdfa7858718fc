package provider

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/pavedroad/terraform-provider-paved/internal/testkit/testcell"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

// The three regions of the replica set tests, one cell each.
var testRegions = []testcell.Options{
	{Region: "aws-eu-west-1", Cloud: "aws"},
	{Region: "gcp-europe-west2", Cloud: "gcp"},
	{Region: "onprem-london", Cloud: "onprem"},
}

const helloHost = "hello.example.test"

func startRegions(t *testing.T) []*testcell.Cell {
	cells := make([]*testcell.Cell, len(testRegions))
	for i, opts := range testRegions {
		cells[i] = testcell.StartWith(t, opts)
	}
	return cells
}

// regionsProviderConfig configures the provider with every cell as a
// region (and the first as the default endpoint).
func regionsProviderConfig(cells []*testcell.Cell) string {
	var regions strings.Builder
	for _, c := range cells {
		fmt.Fprintf(&regions, "    %q = { endpoint = %q, token = %q }\n", c.Region, c.Endpoint, c.Token)
	}
	return requiredProviders + fmt.Sprintf(`provider "paved" {
  endpoint = %q
  token    = %q
  regions = {
%s  }
}
`, cells[0].Endpoint, cells[0].Token, regions.String())
}

// replicaSetConfig is the hello app in every region behind helloHost;
// extra is added after the resource.
func replicaSetConfig(cells []*testcell.Cell, src string, minHealthy int, extra string) string {
	return regionsProviderConfig(cells) + fmt.Sprintf(`
resource "paved_replica_set" "hello" {
  name                = "hello"
  regions             = ["aws-eu-west-1", "gcp-europe-west2", "onprem-london"]
  min_healthy_regions = %d
  space               = "global"
  global_host         = %q
  app {
    name    = "hello"
    source  = %q
    build   = "go build -o hello ."
    command = "./hello"
    env     = { GREETING = "hello world" }
    secret_env         = { API_KEY = "s3cret-in-every-region" }
    secret_env_version = "1"
    health_check {
      type     = "http"
      path     = "/healthz"
      interval = "200ms"
      timeout  = "150ms"
    }
  }
}
%s`, minHealthy, helloHost, src, extra)
}

// unhealthyReplicaSetConfig is a release whose instances never pass their
// health check, so its rollout fails after 3s.
func unhealthyReplicaSetConfig(cells []*testcell.Cell, src string) string {
	return strings.Replace(replicaSetConfig(cells, src, 1, ""), `env     = { GREETING = "hello world" }`,
		`env     = { GREETING = "hello world", UNHEALTHY = "1" }
    deployment {
      progress_deadline = "3s"
    }`, 1)
}

// globalGet calls host through a cell's router until it answers 200 (a
// router picks a new record up within moments) and says which region served.
func globalGet(c *testcell.Cell, host string) (region, body string, err error) {
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, "http://"+c.RouterAddr+"/", nil)
		req.Host = host
		resp, err := client.Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return resp.Header.Get(paved.RegionHeader), string(b), nil
			}
			err = fmt.Errorf("router of %s answered %d: %s", c.Region, resp.StatusCode, b)
		}
		if time.Now().After(deadline) {
			return "", "", err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// servedLocally checks every cell's router serves the global host with its
// own instances.
func servedLocally(cells []*testcell.Cell) resource.TestCheckFunc {
	return func(*terraform.State) error {
		for _, c := range cells {
			region, body, err := globalGet(c, helloHost)
			if err != nil {
				return err
			}
			if region != c.Region || !strings.HasPrefix(body, "hello world") {
				return fmt.Errorf("router of %s: served by region %q: %q", c.Region, region, body)
			}
		}
		return nil
	}
}

// recordsName checks every cell holds the record with every region as a peer.
func recordsName(cells []*testcell.Cell) resource.TestCheckFunc {
	return func(*terraform.State) error {
		for _, c := range cells {
			rec, err := c.Client.ReplicaSets.Get(context.Background(), "hello")
			if err != nil {
				return fmt.Errorf("record in %s: %w", c.Region, err)
			}
			if rec.GlobalHost != helloHost || len(rec.Peers) != len(cells) {
				return fmt.Errorf("record in %s: %+v", c.Region, rec)
			}
		}
		return nil
	}
}

// noReplicaSetLeft checks destroy left no app and no record in any cell.
func noReplicaSetLeft(cells []*testcell.Cell) resource.TestCheckFunc {
	return func(*terraform.State) error {
		for _, c := range cells {
			recs, err := c.Client.ReplicaSets.List(context.Background())
			if err != nil || len(recs) != 0 {
				return fmt.Errorf("records left in %s: %+v %v", c.Region, recs, err)
			}
			apps, err := c.Client.Apps.List(context.Background(), paved.ListAppsOptions{})
			if err != nil || len(apps) != 0 {
				return fmt.Errorf("apps left in %s: %+v %v", c.Region, apps, err)
			}
		}
		return nil
	}
}

func regionStatus(region, attr, value string) resource.TestCheckFunc {
	return resource.TestCheckResourceAttr("paved_replica_set.hello", "regions_status."+region+"."+attr, value)
}

// squat makes another replica set hold host on a cell, as someone else's.
func squat(t *testing.T, c *testcell.Cell, host string) {
	ctx := context.Background()
	if _, err := c.Client.Spaces.Create(ctx, paved.SpaceSpec{Name: "squat"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Client.ReplicaSets.Put(ctx, paved.ReplicaSetRecord{Name: "squatter", Space: "squat", App: "web", GlobalHost: host}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Client.ReplicaSets.Delete(ctx, "squatter")
		c.Client.Spaces.Delete(ctx, "squat")
	})
}

func TestAccReplicaSetPlanTimeErrors(t *testing.T) {
	accPreCheck(t)
	cells := startRegions(t)
	src := helloSource(t)
	squat(t, cells[1], "taken.example.test")
	config := replicaSetConfig(cells, src, 1, "")
	accTest(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6,
		CheckDestroy:             noReplicaSetLeft(cells),
		Steps: []resource.TestStep{
			{ // a region the provider does not configure
				Config:      strings.Replace(config, `"onprem-london"]`, `"onprem-london", "mars-north-1"]`, 1),
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`region "mars-north-1" is not configured; the configured regions are\s+aws-eu-west-1`),
			},
			{ // more healthy regions required than there are
				Config:      strings.Replace(config, "min_healthy_regions = 1", "min_healthy_regions = 4", 1),
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`min_healthy_regions is 4 but regions lists 3`),
			},
			{ // two replica sets of one plan claim one global host
				Config: config + fmt.Sprintf(`
resource "paved_replica_set" "other" {
  name        = "other"
  regions     = ["aws-eu-west-1"]
  space       = "global"
  global_host = %q
  app {
    name    = "other"
    command = "./hello"
  }
}
`, helloHost),
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)Global host claimed twice.*both claim global host\s+"hello.example.test"`),
			},
			{ // a cell serves the host for another replica set
				Config:      strings.Replace(config, `"`+helloHost+`"`, `"taken.example.test"`, 1),
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)global host "taken.example.test" is held by replica set\s+"squatter" in\s+gcp-europe-west2`),
			},
		},
	})
}

// regionReleases is the release the set's app runs in each region.
func regionReleases(t *testing.T, cells []*testcell.Cell) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, c := range cells {
		a, err := c.Client.Apps.Get(context.Background(), "global", "hello")
		if err != nil {
			t.Fatalf("%s: %v", c.Region, err)
		}
		out[c.Region] = a.Release
	}
	return out
}

func TestAccReplicaSet(t *testing.T) {
	accPreCheck(t)
	cells := startRegions(t)
	gcp, onprem := cells[1], cells[2]
	src := helloSource(t)
	var releases map[string]int // before an import
	accTest(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6,
		CheckDestroy:             noReplicaSetLeft(cells),
		Steps: slices.Concat([]resource.TestStep{
			{ // create: every region serves the global host with its own instances
				Config: replicaSetConfig(cells, src, 1, ""),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("paved_replica_set.hello", "id", "hello"),
					resource.TestCheckResourceAttr("paved_replica_set.hello", "rollout", "canary_region"),
					resource.TestCheckResourceAttrSet("paved_replica_set.hello", "source_hash"),
					regionStatus("aws-eu-west-1", "status", "ready"),
					regionStatus("gcp-europe-west2", "status", "ready"),
					regionStatus("onprem-london", "status", "ready"),
					regionStatus("onprem-london", "cloud", "onprem"),
					regionStatus("onprem-london", "release", "1"),
					regionStatus("onprem-london", "running_instances", "1"),
					recordsName(cells),
					servedLocally(cells),
				),
			},
			{ // unchanged config: an empty plan
				Config:           replicaSetConfig(cells, src, 1, ""),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()}},
			},
			{ // a source change is an in-place update in every region
				PreConfig: func() { os.WriteFile(filepath.Join(src, "VERSION"), []byte("2\n"), 0o644) },
				Config:    replicaSetConfig(cells, src, 1, ""),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("paved_replica_set.hello", plancheck.ResourceActionUpdate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					regionStatus("aws-eu-west-1", "release", "2"),
					regionStatus("gcp-europe-west2", "release", "2"),
					regionStatus("onprem-london", "release", "2"),
					servedLocally(cells),
				),
			},
			{ // a release that fails in the canary region: the others are left alone, the apply fails with the reason
				Config:      unhealthyReplicaSetConfig(cells, src),
				ExpectError: regexp.MustCompile(`(?s)canary region aws-eu-west-1 did not converge.*aws-eu-west-1: degraded: app global/hello is\s+failed.*gcp-europe-west2: skipped`),
			},
			{ // ... the canary region rolled back by itself, the change is still pending
				PreConfig: func() {
					for i, c := range cells {
						a, err := c.Client.Apps.Get(context.Background(), "global", "hello")
						if err != nil {
							t.Fatal(err)
						}
						untouched := i == 0 || a.Env["UNHEALTHY"] == ""
						if a.Release != 2 || !untouched {
							t.Fatalf("%s after the failed canary region: release %d, env %v", c.Region, a.Release, a.Env)
						}
					}
				},
				Config:             unhealthyReplicaSetConfig(cells, src),
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
			},
			{ // back to the good release: the canary region converges again
				Config: replicaSetConfig(cells, src, 1, ""),
				Check:  resource.ComposeAggregateTestCheckFunc(regionStatus("aws-eu-west-1", "status", "ready"), servedLocally(cells)),
			},
			{ // import by name, from the regions that hold the set
				ResourceName:            "paved_replica_set.hello",
				ImportState:             true,
				ImportStateId:           "hello",
				ImportStateVerify:       true,
				ImportStateVerifyIgnore: []string{"app.source", "app.secret_env_version"},
			},
		}, reimport{ // every import adopts the set as it runs: app.source and app.secret_env_version are recorded, no region rolls out
			addr: "paved_replica_set.hello", id: "hello", config: replicaSetConfig(cells, src, 1, ""),
			action: plancheck.ResourceActionUpdate, local: []string{"app.source", "app.secret_env_version"}, cells: cells,
			before: func() { releases = regionReleases(t, cells) },
			unchanged: func(*terraform.State) error {
				if now := regionReleases(t, cells); !maps.Equal(now, releases) {
					return fmt.Errorf("the import rolled out: releases %v, were %v", now, releases)
				}
				return nil
			},
		}.steps(t), []resource.TestStep{
			{ // after the import, a new app.secret_env_version sends the secrets to every region
				Config: strings.Replace(replicaSetConfig(cells, src, 1, ""), `API_KEY = "s3cret-in-every-region" }
    secret_env_version = "1"`, `API_KEY = "s3cret-in-every-region", API_KEY_2 = "s3cret-2" }
    secret_env_version = "2"`, 1),
				Check: func(*terraform.State) error {
					for _, c := range cells {
						a, err := c.Client.Apps.Get(context.Background(), "global", "hello")
						if err != nil {
							return err
						}
						if !slices.Contains(a.SecretEnvKeys, "API_KEY_2") || a.Release <= releases[c.Region] {
							return fmt.Errorf("%s: release %d (was %d), secrets %v", c.Region, a.Release, releases[c.Region], a.SecretEnvKeys)
						}
					}
					return nil
				},
			},
			{ // an app lost in one region: its router fails over to a peer, and the plan converges it
				PreConfig: func() {
					if err := gcp.Client.Apps.Delete(context.Background(), "global", "hello"); err != nil {
						t.Fatal(err)
					}
					region, _, err := globalGet(gcp, helloHost)
					if err != nil || region == gcp.Region || region == "" {
						t.Fatalf("gcp's router without a local app: served by %q, %v", region, err)
					}
				},
				Config: replicaSetConfig(cells, src, 1, ""),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("paved_replica_set.hello", plancheck.ResourceActionUpdate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(regionStatus("gcp-europe-west2", "status", "ready"), servedLocally(cells)),
			},
			{ // a region down: the apply succeeds with two, the third is degraded with the reason
				PreConfig: onprem.Stop,
				Config:    replicaSetConfig(cells, src, 2, ""),
				// the degraded region keeps the plan non-empty (checked below)
				ExpectNonEmptyPlan: true,
				Check: resource.ComposeAggregateTestCheckFunc(
					regionStatus("aws-eu-west-1", "status", "ready"),
					regionStatus("gcp-europe-west2", "status", "ready"),
					regionStatus("onprem-london", "status", "degraded"),
					resource.TestMatchResourceAttr("paved_replica_set.hello", "regions_status.onprem-london.reason", regexp.MustCompile("cannot reach the paved cell")),
					servedLocally(cells[:2]),
				),
			},
			{ // ... and the next plan wants to converge it
				Config:             replicaSetConfig(cells, src, 2, ""),
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
			},
			{ // the region is back: the apply converges it and every router serves again
				PreConfig: func() { onprem.Restart(t) },
				Config:    replicaSetConfig(cells, src, 2, ""),
				Check: resource.ComposeAggregateTestCheckFunc(
					regionStatus("onprem-london", "status", "ready"),
					recordsName(cells),
					servedLocally(cells),
				),
			},
			{
				Config:           replicaSetConfig(cells, src, 2, ""),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()}},
			},
			{ // a region dropped from the list is cleaned up once the others converged
				Config: strings.Replace(replicaSetConfig(cells, src, 2, ""), `, "onprem-london"]`, `]`, 1),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckNoResourceAttr("paved_replica_set.hello", "regions_status.onprem-london.status"),
					recordsName(cells[:2]),
					noReplicaSetLeft(cells[2:]),
				),
			},
		}),
	})
}
