package provider

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/pavedroad/terraform-provider-paved/internal/testkit/testcell"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

func environmentConfig(c *testcell.Cell, src, extra string) string {
	return appConfig(c, src, "hello env", "") + fmt.Sprintf(`
resource "paved_environment" "pr" {
  name       = "pr-7"
  from_space = paved_app.web.space
  ttl        = "1h"
  overrides = {
    web = { instances = 1, env = { GREETING = "hello preview" } }
  }
}

data "paved_snapshot" "shop" {
  space      = paved_space.shop.name
  depends_on = [paved_app.web]
}
%s`, extra)
}

func TestAccEnvironmentAndSnapshot(t *testing.T) {
	accPreCheck(t)
	c := testcell.Start(t)
	src := helloSource(t)
	var was *paved.Environment // before an import
	accTest(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6,
		CheckDestroy:             cellIsEmpty(c),
		Steps: slices.Concat([]resource.TestStep{
			{
				Config: environmentConfig(c, src, ""),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("paved_environment.pr", "urls.web", "http://pr-7.web.shop.example.test/"),
					resource.TestCheckResourceAttrSet("paved_environment.pr", "expires_at"),
					resource.TestCheckResourceAttr("data.paved_snapshot.shop", "releases.web", "1"),
					func(*terraform.State) error {
						a, err := c.Client.Apps.Get(context.Background(), "pr-7", "web")
						if err != nil || a.Instances != 1 || a.Env["GREETING"] != "hello preview" {
							return fmt.Errorf("the preview's web: %+v %v", a, err)
						}
						return nil
					},
				),
			},
			{
				Config:           environmentConfig(c, src, ""),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()}},
			},
			// overrides cannot be read back; ttl reads back as "1h0m0s", which SameDuration plans as no change
			{ResourceName: "paved_environment.pr", ImportState: true, ImportStateId: "pr-7", ImportStateVerify: true,
				ImportStateVerifyIgnore: []string{"overrides", "ttl"}},
		}, reimport{ // every import adopts the environment as it runs: its overrides are recorded, never a replacement
			addr: "paved_environment.pr", id: "pr-7", config: environmentConfig(c, src, ""),
			action: plancheck.ResourceActionUpdate, local: []string{"overrides"}, cells: []*testcell.Cell{c},
			before: func() { was = environmentOnCell(t, c) },
			unchanged: func(*terraform.State) error {
				if now := environmentOnCell(t, c); !now.CreatedAt.Equal(was.CreatedAt) || !now.ExpiresAt.Equal(was.ExpiresAt) {
					return fmt.Errorf("the import made the environment again: created %s, was %s", now.CreatedAt, was.CreatedAt)
				}
				return nil
			},
		}.steps(t)),
	})
}

func environmentOnCell(t *testing.T, c *testcell.Cell) *paved.Environment {
	t.Helper()
	env, err := c.Client.Environments.Get(context.Background(), "pr-7")
	if err != nil {
		t.Fatal(err)
	}
	return env
}
