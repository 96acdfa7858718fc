# An app and the pipeline that ships it: every commit to the branch is
# tested, checked in a preview environment of its own (optional), then
# rolled out to the app with its strategy and checked through the router.

resource "paved_space" "this" {
  count = var.create_space ? 1 : 0
  name  = var.space
}

locals {
  space = var.create_space ? paved_space.this[0].name : var.space
  # The pipeline checks deploys through the app's first route.
  check_host = split("/", var.routes[0])[0]
}

resource "paved_app" "this" {
  space     = local.space
  name      = var.name
  source    = var.source_dir
  build     = var.build
  command   = var.command
  instances = var.instances
  env       = var.env
  routes    = var.routes

  health_check {
    type = "http"
    path = var.health_path
  }

  deployment {
    strategy = var.strategy
  }
}

resource "paved_pipeline" "this" {
  space = local.space
  name  = var.name

  source {
    name        = "repo"
    type        = "git"
    uri         = var.repository
    branch      = var.branch
    check_every = var.check_every
  }

  # Write-only: the secret is never in the plan or the state.
  webhook_secrets_wo         = var.webhook_secret == null ? null : { repo = var.webhook_secret }
  webhook_secrets_wo_version = var.webhook_secret_version

  job {
    name = "test"
    step {
      get     = "repo"
      trigger = true
    }
    step {
      task = "test"
      dir  = "repo"
      run  = var.test_command
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
    # A preview environment per change: the space's apps at their last
    # good release, this app running the commit. Destroyed when the job
    # passes, kept until its TTL when it fails.
    dynamic "step" {
      for_each = var.previews ? [1] : []
      content {
        environment = "${var.name}-preview"
        from_space  = local.space
        app         = paved_app.this.name
        source      = "repo"
        ttl         = var.preview_ttl
      }
    }
    dynamic "step" {
      for_each = var.previews ? [1] : []
      content {
        assert      = "preview-healthy"
        http_url    = "env:${paved_app.this.name}${var.health_path}"
        http_status = 200
      }
    }
    step {
      deploy = paved_app.this.name
      from   = "repo"
    }
    step {
      assert      = "healthy"
      http_url    = "router:${var.health_path}"
      http_host   = local.check_host
      http_status = 200
    }
  }
}
