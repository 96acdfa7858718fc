# Plan-mode tests of the module's logic and validation: no cell is called
# (the provider only reads the source directory to plan its hash).

provider "paved" {
  endpoint = "http://127.0.0.1:9" # never reached by a plan of new resources
}

variables {
  space      = "shop"
  name       = "web"
  repository = "https://git.example.test/shop/web.git"
  source_dir = "../../examples/hello"
  build      = "go build -o hello ."
  command    = "./hello"
  routes     = ["web.shop.example.test/api", "web.example.test"]
}

run "defaults_test_preview_and_ship" {
  command = plan

  assert {
    condition     = length(paved_space.this) == 1 && paved_app.this.space == "shop"
    error_message = "the module must create the space by default and put the app in it"
  }
  assert {
    condition     = [for j in paved_pipeline.this.job : j.name] == ["test", "ship"]
    error_message = "the pipeline must have a test job and a ship job"
  }
  assert {
    condition     = [for s in paved_pipeline.this.job[1].step : coalesce(s.get, s.environment, s.assert, s.deploy)] == ["repo", "web-preview", "preview-healthy", "web", "healthy"]
    error_message = "ship must get the tested commit, preview it, check the preview, deploy and check the app"
  }
  assert {
    condition     = tolist(paved_pipeline.this.job[1].step[0].passed) == tolist(["test"]) && paved_pipeline.this.job[1].serial
    error_message = "ship must only take commits that passed test, one at a time"
  }
  assert {
    condition     = paved_pipeline.this.job[1].step[4].http_host == "web.shop.example.test" && paved_pipeline.this.job[1].step[4].http_url == "router:/healthz"
    error_message = "the deploy check must go through the router to the first route's host"
  }
  assert {
    condition     = paved_app.this.health_check.path == "/healthz" && paved_app.this.deployment.strategy == "rolling"
    error_message = "the app must be health-checked on health_path and roll out with strategy"
  }
}

run "without_previews" {
  command = plan
  variables {
    previews = false
  }
  assert {
    condition     = [for s in paved_pipeline.this.job[1].step : coalesce(s.get, s.assert, s.deploy)] == ["repo", "web", "healthy"]
    error_message = "without previews, ship must go straight from the tested commit to the deploy"
  }
}

run "existing_space" {
  command = plan
  variables {
    create_space = false
  }
  assert {
    condition     = length(paved_space.this) == 0 && paved_pipeline.this.space == "shop"
    error_message = "with create_space = false the module must use the space without creating it"
  }
}

run "rejects_a_bad_name" {
  command = plan
  variables {
    name = "Web_1"
  }
  expect_failures = [var.name]
}

run "rejects_a_bad_space" {
  command = plan
  variables {
    space = "-shop"
  }
  expect_failures = [var.space]
}

run "rejects_no_routes" {
  command = plan
  variables {
    routes = []
  }
  expect_failures = [var.routes]
}

run "rejects_a_bad_route" {
  command = plan
  variables {
    routes = ["Web.Example.test"]
  }
  expect_failures = [var.routes]
}

run "rejects_zero_instances" {
  command = plan
  variables {
    instances = 0
  }
  expect_failures = [var.instances]
}

run "rejects_an_unknown_strategy" {
  command = plan
  variables {
    strategy = "sideways"
  }
  expect_failures = [var.strategy]
}

run "rejects_a_bad_duration" {
  command = plan
  variables {
    check_every = "often"
    preview_ttl = "2 hours"
  }
  expect_failures = [var.check_every, var.preview_ttl]
}

run "rejects_a_health_path_without_slash" {
  command = plan
  variables {
    health_path = "healthz"
  }
  expect_failures = [var.health_path]
}
