# Plan-mode tests of the module's logic and validation; no cell is called.

provider "paved" {
  endpoint = "http://127.0.0.1:9"
}

variables {
  name       = "pr-42"
  from_space = "prod"
}

run "defaults" {
  command = plan
  assert {
    condition     = paved_environment.this.ttl == "24h" && paved_environment.this.overrides == null
    error_message = "by default the preview must live a day and run the space as it is"
  }
}

run "only_set_overrides_are_sent" {
  command = plan
  variables {
    overrides = {
      web = { instances = 1 }
      api = { env = { FEATURE = "on" } }
    }
  }
  assert {
    condition     = paved_environment.this.overrides["web"].instances == 1 && paved_environment.this.overrides["web"].source == null
    error_message = "an override must keep the app's own settings where it sets nothing"
  }
  assert {
    condition     = paved_environment.this.overrides["api"].env["FEATURE"] == "on"
    error_message = "env overrides must reach the environment"
  }
}

run "rejects_a_bad_name" {
  command = plan
  variables {
    name = "PR 42"
  }
  expect_failures = [var.name]
}

run "rejects_a_bad_ttl" {
  command = plan
  variables {
    ttl = "tomorrow"
  }
  expect_failures = [var.ttl]
}

run "rejects_negative_instances" {
  command = plan
  variables {
    overrides = { web = { instances = -1 } }
  }
  expect_failures = [var.overrides]
}
