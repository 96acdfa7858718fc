# One app in several regions behind one global host: every region's router
# serves it with its own instances and fails over to the others.

resource "paved_replica_set" "this" {
  name                = var.name
  regions             = var.regions
  min_healthy_regions = var.min_healthy_regions
  rollout             = var.rollout
  space               = var.space
  global_host         = var.global_host

  app {
    name      = var.name
    source    = var.source_dir
    build     = var.build
    command   = var.command
    instances = var.instances
    env       = var.env

    health_check {
      type = "http"
      path = var.health_path
    }

    deployment {
      strategy = var.strategy
    }
  }

  lifecycle {
    precondition {
      condition     = var.min_healthy_regions <= length(var.regions)
      error_message = "min_healthy_regions (${var.min_healthy_regions}) cannot exceed the number of regions (${length(var.regions)})."
    }
  }
}
