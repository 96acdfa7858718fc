package provider

import (
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	"github.com/pavedroad/terraform-provider-paved/internal/testkit/testcell"
)

func TestAccDataSources(t *testing.T) {
	accPreCheck(t)
	c := testcell.Start(t)
	src := helloSource(t)
	config := appConfig(c, src, "hello data", "") + `
data "paved_space" "shop" {
  name = paved_space.shop.name
}
data "paved_app" "web" {
  space = paved_app.web.space
  name  = paved_app.web.name
}
data "paved_release" "good" {
  space     = paved_app.web.space
  app       = paved_app.web.name
  last_good = true
}
data "paved_release" "first" {
  space  = paved_app.web.space
  app    = paved_app.web.name
  number = 1
}
data "paved_cell" "this" {
  depends_on = [paved_app.web]
}
`
	accTest(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6,
		Steps: []resource.TestStep{{
			Config: config,
			Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestCheckResourceAttr("data.paved_space.shop", "id", "shop"),
				resource.TestCheckResourceAttr("data.paved_app.web", "status", "running"),
				resource.TestCheckResourceAttr("data.paved_app.web", "running_instances", "2"),
				resource.TestCheckResourceAttr("data.paved_app.web", "routes.0", "web.shop.example.test"),
				resource.TestCheckResourceAttrPair("data.paved_app.web", "source_hash", "paved_app.web", "source_hash"),
				resource.TestCheckResourceAttr("data.paved_release.good", "number", "1"),
				resource.TestCheckResourceAttr("data.paved_release.good", "status", "good"),
				resource.TestCheckResourceAttrPair("data.paved_release.first", "source_hash", "paved_app.web", "source_hash"),
				resource.TestCheckResourceAttr("data.paved_cell.this", "region", "test"),
				resource.TestCheckResourceAttr("data.paved_cell.this", "router_address", c.RouterAddr),
				resource.TestCheckResourceAttr("data.paved_cell.this", "router_url", "http://"+c.RouterAddr),
				resource.TestCheckResourceAttr("data.paved_cell.this", "tls", "false"),
				resource.TestCheckResourceAttr("data.paved_cell.this", "apps", "1"),
			),
		}},
	})
}
