package provider

import (
	"fmt"
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	"github.com/pavedroad/terraform-provider-paved/internal/testkit/testcell"
)

// TestAccTLSCell drives a cell that speaks HTTPS only: without ca_cert the
// provider refuses the cell's certificate (a private CA), with it a space
// is created and the cell reports tls and an https router URL.
func TestAccTLSCell(t *testing.T) {
	accPreCheck(t)
	c := testcell.StartWith(t, testcell.Options{TLS: true})
	config := func(caCert string) string {
		return requiredProviders + fmt.Sprintf(`provider "paved" {
  endpoint = %q
  token    = %q
  ca_cert  = %s
}

resource "paved_space" "secure" {
  name = "secure"
}

data "paved_cell" "this" {
  depends_on = [paved_space.secure]
}
`, c.Endpoint, c.Token, caCert)
	}
	accTest(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6,
		Steps: []resource.TestStep{
			{
				Config:      config("null"),
				ExpectError: regexp.MustCompile(`(?i)certificate`),
			},
			{
				Config: config(fmt.Sprintf("<<-EOT\n%sEOT", c.CACert)),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("paved_space.secure", "name", "secure"),
					resource.TestCheckResourceAttr("data.paved_cell.this", "tls", "true"),
					resource.TestCheckResourceAttr("data.paved_cell.this", "router_url", "https://"+c.RouterAddr),
					resource.TestCheckResourceAttr("data.paved_cell.this", "endpoint", c.Endpoint),
				),
			},
		},
	})
}
