package provider

import (
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	"github.com/pavedroad/terraform-provider-paved/internal/testkit/testcell"
)

func TestAccRegionsDataSource(t *testing.T) {
	accPreCheck(t)
	aws := testcell.StartWith(t, testRegions[0])
	gcp := testcell.StartWith(t, testRegions[1])
	gcp.Stop() // a region down is reported, not an error
	accTest(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6,
		Steps: []resource.TestStep{{
			Config: regionsProviderConfig([]*testcell.Cell{aws, gcp}) + `
data "paved_regions" "all" {}
`,
			Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestCheckResourceAttr("data.paved_regions.all", "regions.%", "2"),
				resource.TestCheckResourceAttr("data.paved_regions.all", "regions.aws-eu-west-1.healthy", "true"),
				resource.TestCheckResourceAttr("data.paved_regions.all", "regions.aws-eu-west-1.cloud", "aws"),
				resource.TestCheckResourceAttr("data.paved_regions.all", "regions.aws-eu-west-1.endpoint", aws.Endpoint),
				resource.TestCheckResourceAttr("data.paved_regions.all", "regions.aws-eu-west-1.router_address", aws.RouterAddr),
				resource.TestCheckResourceAttr("data.paved_regions.all", "regions.aws-eu-west-1.router_url", "http://"+aws.RouterAddr),
				resource.TestCheckResourceAttrSet("data.paved_regions.all", "regions.aws-eu-west-1.version"),
				resource.TestCheckNoResourceAttr("data.paved_regions.all", "regions.aws-eu-west-1.error"),
				resource.TestCheckResourceAttr("data.paved_regions.all", "regions.gcp-europe-west2.healthy", "false"),
				resource.TestMatchResourceAttr("data.paved_regions.all", "regions.gcp-europe-west2.error", regexp.MustCompile("cannot reach the paved cell at "+regexp.QuoteMeta(gcp.Endpoint))),
			),
		}},
	})
}
