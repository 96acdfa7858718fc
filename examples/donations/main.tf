# Donation night: the donations app in three regions on three clouds behind
# one global host. Each region's router serves donations.example.test with
# its own instance and fails over to the others when it has none; the app
# merges the regions' donations itself (see app/README.md).

terraform {
  required_version = ">= 1.11" # OpenTofu or Terraform: write-only arguments
  required_providers {
    paved = { source = "pavedroad/paved" }
  }
}

provider "paved" {
  # The default cell, for single-region resources (none here).
  endpoint = var.endpoints["aws-eu-west-1"]
  regions = {
    for name, endpoint in var.endpoints : name => { endpoint = endpoint, token = var.tokens[name] }
  }
}

# Each region's cell as it reports itself (healthy, cloud, router address).
data "paved_regions" "all" {}

resource "paved_replica_set" "donations" {
  name    = "donations"
  regions = ["aws-eu-west-1", "gcp-europe-west2", "onprem-london"]
  # Two regions must take the release; a third that is down or failing is
  # reported in regions_status and catches up on the next apply.
  min_healthy_regions = 2
  space               = "charity"
  global_host         = var.global_host

  app {
    name    = "donations"
    source  = "${path.module}/app"
    build   = "go build -o donations ."
    command = "./donations"
    # One instance per region: the region, not the instance, is the unit
    # of failover (app/README.md says why).
    instances = 1
    env = {
      # Fixed, not discovered from data.paved_regions: PEERS is part of the
      # release, so a region going down must not change it everywhere.
      PEERS       = join(",", values(var.routers))
      GLOBAL_HOST = var.global_host
    }

    health_check {
      type = "http"
      path = "/healthz"
    }
  }
}
