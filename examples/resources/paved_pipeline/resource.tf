# Every commit to main runs the tests; versions that pass roll out to the
# web app with its canary, and an assert checks the new version answers.
resource "paved_pipeline" "web" {
  space = paved_space.shop.name
  name  = "web"

  source {
    name        = "repo"
    type        = "git"
    uri         = "https://git.example.test/shop/web.git"
    branch      = "main"
    check_every = "1m" # or POST webhook_paths["repo"] with webhook_tokens["repo"]
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
