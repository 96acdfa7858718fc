package provider

import "github.com/hashicorp/terraform-plugin-framework/path"

var pathEndpoint = path.Root("endpoint")
