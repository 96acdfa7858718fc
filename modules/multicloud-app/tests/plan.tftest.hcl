# Plan-mode tests of the module's logic and validation. The regions point at
# a closed port: planning a new replica set only asks the cells whether the
# global host is taken, and an unreachable cell is skipped.

provider "paved" {
  regions = {
    eu = { endpoint = "http://127.0.0.1:9" }
    us = { endpoint = "http://127.0.0.1:9" }
  }
}

variables {
  name        = "web"
  space       = "shop"
  regions     = ["eu", "us"]
  global_host = "web.example.test"
  source_dir  = "../../examples/hello"
  build       = "go build -o hello ."
  command     = "./hello"
}

run "defaults" {
  command = plan

  assert {
    condition     = paved_replica_set.this.min_healthy_regions == 1 && paved_replica_set.this.rollout == "canary_region"
    error_message = "by default one region must suffice (availability first) and the first region must go first"
  }
  assert {
    condition     = paved_replica_set.this.app.name == "web" && paved_replica_set.this.app.instances == 2
    error_message = "the app must take the replica set's name and run 2 instances per region"
  }
  assert {
    condition     = paved_replica_set.this.app.health_check.path == "/healthz" && paved_replica_set.this.app.deployment.strategy == "rolling"
    error_message = "the app must be health-checked on health_path and roll out with strategy"
  }
}

run "parallel_with_two_regions_required" {
  command = plan
  variables {
    rollout             = "parallel"
    min_healthy_regions = 2
  }
  assert {
    condition     = paved_replica_set.this.rollout == "parallel" && paved_replica_set.this.min_healthy_regions == 2
    error_message = "rollout and min_healthy_regions must reach the replica set"
  }
}

run "rejects_more_healthy_regions_than_regions" {
  command = plan
  variables {
    min_healthy_regions = 3
  }
  expect_failures = [paved_replica_set.this]
}

run "rejects_a_region_twice" {
  command = plan
  variables {
    regions = ["eu", "eu"]
  }
  expect_failures = [var.regions]
}

run "rejects_no_region" {
  command = plan
  variables {
    regions = []
  }
  expect_failures = [var.regions]
}

run "rejects_a_bad_global_host" {
  command = plan
  variables {
    global_host = "https://web.example.test"
  }
  expect_failures = [var.global_host]
}

run "rejects_an_unknown_rollout" {
  command = plan
  variables {
    rollout = "all_at_once"
  }
  expect_failures = [var.rollout]
}

run "rejects_a_bad_instance_count" {
  command = plan
  variables {
    instances = 1.5
  }
  expect_failures = [var.instances]
}
