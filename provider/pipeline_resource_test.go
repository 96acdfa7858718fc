package provider

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/pavedroad/terraform-provider-paved/internal/testkit/testcell"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

const shipBuildData = `
data "paved_pipeline_build" "ship" {
  space    = paved_pipeline.main.space
  pipeline = paved_pipeline.main.name
  job      = "ship"
}
`

// waitForBuild polls until a job has a finished build.
func waitForBuild(t *testing.T, c *testcell.Cell, space, pipeline, job string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		bs, err := c.Client.Pipelines.Builds(context.Background(), space, pipeline, job)
		if err == nil && len(bs) > 0 && bs[0].FinishedAt != nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no finished build of %s/%s", pipeline, job)
}

func pipelineConfig(c *testcell.Cell, repo, run string) string {
	return providerConfig(c) + fmt.Sprintf(`
resource "paved_space" "ci" {
  name = "ci"
}

resource "paved_pipeline" "main" {
  space = paved_space.ci.name
  name  = "main"

  source {
    name        = "repo"
    type        = "git"
    uri         = %q
    check_every = "1s"
  }

  job {
    name = "test"
    step {
      get     = "repo"
      trigger = true
    }
    step {
      task = "unit"
      dir  = "repo"
      run  = %q
    }
    ensure {
      task = "cleanup"
      run  = "true"
    }
  }

  job {
    name   = "ship"
    serial = true
    step {
      get     = "repo"
      trigger = true
      passed  = ["test"]
    }
    step {
      in_parallel {
        assert  = "repo-has-readme"
        command = "test -f repo/README"
      }
      in_parallel {
        task = "notes"
        run  = "echo shipping"
      }
    }
  }
}

`, repo, run)
}

func gitRepoForTest(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, args := range [][]string{
		{"init", "--quiet", "--initial-branch=main"},
		{"-c", "user.name=t", "-c", "user.email=t@example.test", "commit", "--quiet", "--allow-empty", "-m", "first"},
	} {
		if out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
	}
	exec.Command("sh", "-c", "cd "+dir+" && touch README && git add README && git -c user.name=t -c user.email=t@example.test commit -qm readme").Run()
	return dir
}

func TestAccPipeline(t *testing.T) {
	accPreCheck(t)
	c := testcell.Start(t)
	repo := gitRepoForTest(t)
	accTest(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6,
		CheckDestroy:             cellIsEmpty(c),
		Steps: slices.Concat([]resource.TestStep{
			{
				Config: pipelineConfig(c, repo, "echo tests pass"),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("paved_pipeline.main", "id", "ci/main"),
					resource.TestCheckResourceAttrSet("paved_pipeline.main", "webhook_paths.repo"),
					resource.TestCheckNoResourceAttr("paved_pipeline.main", "webhook_secrets_wo.repo"),
				),
			},
			{ // the pipeline ran: the data source reads the latest build of a job
				PreConfig: func() { waitForBuild(t, c, "ci", "main", "ship") },
				Config:    pipelineConfig(c, repo, "echo tests pass") + shipBuildData,
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("data.paved_pipeline_build.ship", "status", "succeeded"),
					resource.TestCheckResourceAttr("data.paved_pipeline_build.ship", "steps.#", "3"),
					func(*terraform.State) error {
						bs, err := c.Client.Pipelines.Builds(context.Background(), "ci", "main", "test")
						if err != nil || len(bs) != 1 || bs[0].Status != paved.BuildSucceeded {
							return fmt.Errorf("test builds: %+v %v", bs, err)
						}
						return nil
					},
				),
			},
			{
				Config:           pipelineConfig(c, repo, "echo tests pass"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()}},
			},
			{
				Config: pipelineConfig(c, repo, "echo tests still pass"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("paved_pipeline.main", plancheck.ResourceActionUpdate),
				}},
			},
			{
				ResourceName: "paved_pipeline.main", ImportState: true, ImportStateId: "ci/main", ImportStateVerify: true,
			},
		}, reimport{ // the cell knows everything of this pipeline: every import plans nothing
			addr: "paved_pipeline.main", id: "ci/main", config: pipelineConfig(c, repo, "echo tests still pass"),
			action: plancheck.ResourceActionNoop, cells: []*testcell.Cell{c},
		}.steps(t)),
	})
}

func TestAccPipelineValidation(t *testing.T) {
	accPreCheck(t)
	c := testcell.Start(t)
	base := func(jobs string) string {
		return providerConfig(c) + `
resource "paved_pipeline" "p" {
  space = "s"
  name  = "p"
  source {
    name = "repo"
    type = "git"
    uri  = "/tmp/nowhere"
  }
` + jobs + "\n}\n"
	}
	cases := []struct{ config, err string }{
		{base(`job {
  name = "a"
  step {
    get     = "nope"
    trigger = true
  }
}`), `(?s)get\s+= "nope".*get of unknown source`},
		{base(`job {
  name = "a"
  step {
    get    = "repo"
    passed = ["zz"]
  }
}`), `(?s)passed.*passed names unknown job`},
		{base(`job {
  name = "a"
  step {
    get    = "repo"
    passed = ["b"]
  }
}
job {
  name = "b"
  step {
    get    = "repo"
    passed = ["a"]
  }
}`), `(?s)form a cycle`},
		{base(`job {
  name = "a"
  step {
    deploy = "web"
    from   = "nothing"
  }
}`), `(?s)from "nothing" is not made by an earlier`},
	}
	var steps []resource.TestStep
	for _, tc := range cases {
		steps = append(steps, resource.TestStep{Config: tc.config, PlanOnly: true, ExpectError: regexp.MustCompile(tc.err)})
	}
	accTest(t, resource.TestCase{ProtoV6ProviderFactories: protoV6, Steps: steps})
}
