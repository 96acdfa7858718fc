package provider

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/pavedroad/terraform-provider-paved/internal/testkit/testcell"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

func spaceConfig(c *testcell.Cell, name, labels string) string {
	return providerConfig(c) + fmt.Sprintf(`
resource "paved_space" "s" {
  name   = %q
  labels = %s
}
`, name, labels)
}

func TestAccSpace(t *testing.T) {
	accPreCheck(t)
	c := testcell.Start(t)
	accTest(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6,
		CheckDestroy:             cellIsEmpty(c),
		Steps: slices.Concat([]resource.TestStep{
			{
				Config: spaceConfig(c, "team", `{ owner = "platform" }`),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("paved_space.s", "id", "team"),
					resource.TestCheckResourceAttr("paved_space.s", "labels.owner", "platform"),
				),
			},
			{
				Config:           spaceConfig(c, "team", `{ owner = "platform" }`),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()}},
			},
			{ // labels update in place
				Config: spaceConfig(c, "team", `{ owner = "payments" }`),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("paved_space.s", plancheck.ResourceActionUpdate),
				}},
				Check: func(*terraform.State) error {
					sp, err := c.Client.Spaces.Get(context.Background(), "team")
					if err != nil || sp.Labels["owner"] != "payments" {
						return fmt.Errorf("labels on the cell: %+v %v", sp, err)
					}
					return nil
				},
			},
			{ResourceName: "paved_space.s", ImportState: true, ImportStateId: "team", ImportStateVerify: true},
			{Config: spaceConfig(c, "team", `{ owner = "payments" }`), ResourceName: "paved_space.s", ImportState: true,
				ImportStateKind: resource.ImportBlockWithResourceIdentity},
		}, reimport{ // the cell knows everything of a space: every import plans nothing
			addr: "paved_space.s", id: "team", identity: `{ name = "team" }`, config: spaceConfig(c, "team", `{ owner = "payments" }`),
			action: plancheck.ResourceActionNoop, cells: []*testcell.Cell{c},
		}.steps(t), []resource.TestStep{
			{ // a rename replaces
				Config: spaceConfig(c, "team2", `{ owner = "payments" }`),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("paved_space.s", plancheck.ResourceActionDestroyBeforeCreate),
				}},
			},
			{ // deleted outside: recreated
				PreConfig: func() {
					if err := c.Client.Spaces.Delete(context.Background(), "team2"); err != nil {
						t.Fatal(err)
					}
				},
				Config: spaceConfig(c, "team2", `{ owner = "payments" }`),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("paved_space.s", plancheck.ResourceActionCreate),
				}},
			},
		}),
	})
}

// TestAccValidation: bad configs fail at plan with the attribute path.
func TestAccValidation(t *testing.T) {
	accPreCheck(t)
	c := testcell.Start(t)
	app := func(body string) string {
		return providerConfig(c) + `
resource "paved_app" "x" {
  space   = "s"
  name    = "x"
  command = "./x"
` + body + "\n}\n"
	}
	cases := []struct{ config, err string }{
		{providerConfig(c) + `resource "paved_space" "s" { name = "Bad_Name" }`, `(?s)name.*not a valid name`},
		{app(`routes = ["Web.Example"]`), `(?s)routes = \["Web.Example"\].*not a valid host name`},
		{app(`instances = -1`), `(?s)instances = -1.*between 0 and 256`},
		{app(`env = { PORT = "1" }`), `(?s)env = \{ PORT.*set by the cell`},
		{app(`health_check { path = "/x" }`), `(?s)health_check.*needs a type`},
		{app(`health_check {
  type = "tcp"
  path = "/x"
}`), `(?s)path = "/x".*only applies`},
		{app(`deployment { strategy = "yolo" }`), `(?s)strategy = "yolo".*(value must be one of|is\s+not\s+one\s+of\s+rolling)`},
		{app(`deployment { max_in_flight = "150%" }`), `(?s)max_in_flight = "150%".*percentage between`},
		{app(`deployment { progress_deadline = "0s" }`), `(?s)progress_deadline = .*more than zero`},
		{app(`deployment { progress_deadline = "-1m" }`), `(?s)progress_deadline = .*more than zero`},
		{app(`deployment { drain_timeout = "soon" }`), `(?s)drain_timeout = "soon".*not a duration`},
		{app(`deployment {
  strategy = "rolling"
  canary { steps = [10] }
}`), `(?s)canary \{.*need the canary strategy|(?s)canary \{.*only\s+appl(y|ies)\s+when\s+strategy\s+=\s+"canary"`},
		{app(`deployment {
  strategy = "canary"
  canary { steps = [0, 150] }
}`), `(?s)steps = \[0, 150\].*between 1 and 100`},
		{app(`deployment {
  strategy = "canary"
  canary { max_error_rate = 1.5 }
}`), `(?s)max_error_rate = 1.5.*(between 0.000000 and\s+1.000000|a\s+fraction\s+between\s+0\s+and\s+1)`},
		{app(`source = "/definitely/not/here"`), `(?s)source = "/definitely/not/here".*no such file`},
		{providerConfig(c) + `resource "paved_environment" "bad" {
  name       = "bad"
  from_space = "shop"
  ttl        = "0s"
}`, `(?s)ttl.*more than zero`},
	}
	var steps []resource.TestStep
	for _, tc := range cases {
		steps = append(steps, resource.TestStep{Config: tc.config, PlanOnly: true, ExpectError: regexp.MustCompile(tc.err)})
	}
	accTest(t, resource.TestCase{ProtoV6ProviderFactories: protoV6, Steps: steps})
	if apps, _ := c.Client.Apps.List(context.Background(), paved.ListAppsOptions{}); len(apps) != 0 {
		t.Fatalf("a refused config created apps: %+v", apps)
	}
}
