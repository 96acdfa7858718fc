# The provider names the cells of every region:
#   provider "paved" {
#     regions = {
#       "aws-eu-west-1"    = { endpoint = "https://paved.eu-west-1.example.com", token = var.aws_token }
#       "gcp-europe-west2" = { endpoint = "https://paved.europe-west2.example.com", token = var.gcp_token }
#       "onprem-london"    = { endpoint = "https://paved.london.example.internal", token = var.onprem_token }
#     }
#   }

resource "paved_replica_set" "web" {
  name = "web"
  # The first reachable region is the canary region: it rolls out alone first.
  regions = ["aws-eu-west-1", "gcp-europe-west2", "onprem-london"]
  # An apply succeeds once 2 regions converged (default 1: availability
  # first); the rest show in regions_status and converge on the next apply.
  min_healthy_regions = 2
  space               = "shop"
  # Every region's router serves this host, failing over to the other
  # regions' routers while it has no healthy instance of its own.
  global_host = "web.shop.example.test"
  rollout     = "canary_region" # or "parallel"

  # paved_app's settings (but space): every change rolls out in place.
  app {
    name      = "web"
    source    = "${path.module}/web"
    build     = "go build -o web ."
    command   = "./web"
    instances = 2
    env       = { GREETING = "hello" }

    health_check {
      type = "http"
      path = "/healthz"
    }

    deployment {
      strategy = "rolling"
    }
  }

  timeouts {
    create = "15m"
    update = "15m"
  }
}

output "regions_status" {
  # e.g. { "onprem-london" = { status = "degraded", reason = "cannot reach …" }, … }
  value = paved_replica_set.web.regions_status
}
