# Every commit to main runs the tests; versions that pass roll out to the
# web app with its canary, and an assert checks the new version answers.
# The forge's webhook secret: ephemeral, so it is in neither the plan nor
# the state (pass it with TF_VAR_webhook_secret).
variable "webhook_secret" {
  type      = string
  sensitive = true
  ephemeral = true
}

resource "paved_pipeline" "web" {
  space = paved_space.shop.name
  name  = "web"

  # Write-only: the cell keeps only a hash. Bump the version to rotate.
  webhook_secrets_wo         = { repo = var.webhook_secret }
  webhook_secrets_wo_version = 1

  source {
    name        = "repo"
    type        = "git"
    uri         = "https://git.example.test/shop/web.git"
    branch      = "main"
    check_every = "1m" # or POST webhook_paths["repo"] with the webhook secret
  }

  job {
    name = "test"
    step {
      get     = "repo"
      trigger = true
    }
    step {
      task     = "unit"
      dir      = "repo"
      run      = "go test ./..."
      timeout  = "10m"
      attempts = 2
    }
  }

  job {
    name   = "deploy"
    serial = true
    step {
      get     = "repo"
      trigger = true
      passed  = ["test"]
    }
    step {
      deploy = paved_app.web.name
      from   = "repo"
    }
    step {
      assert        = "answers"
      http_url      = "router:/healthz"
      http_host     = "web.shop.example.test"
      http_contains = "ok"
    }
    on_failure {
      task = "notify"
      run  = "echo deploy failed"
    }
  }
}
