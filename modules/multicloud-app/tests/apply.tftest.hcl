# Apply test against real cells: make test (tests/modules_test.go) starts
# two, named eu and us, and sets PAVED_REGIONS and PAVED_TOKEN (the
# provider's defaults for its regions). By hand:
#   PAVED_REGIONS=eu=http://127.0.0.1:7401,us=http://127.0.0.1:7402 PAVED_TOKEN=… \
#   tofu test -filter=tests/apply.tftest.hcl

variables {
  name        = "web"
  space       = "modtest-multicloud"
  regions     = ["eu", "us"]
  global_host = "web.modtest-multicloud.example.test"
  source_dir  = "../../examples/hello"
  build       = "go build -o hello ."
  command     = "./hello"
  instances   = 1
  rollout     = "parallel"
}

run "apply_in_two_regions" {
  command = apply

  assert {
    condition     = toset(output.ready_regions) == toset(["eu", "us"])
    error_message = "both regions must be ready after the apply"
  }
  assert {
    condition     = alltrue([for r, s in output.regions_status : s.release >= 1 && s.running_instances == 1])
    error_message = "each region must run a release with its one instance"
  }
  assert {
    condition     = output.global_host == "web.modtest-multicloud.example.test"
    error_message = "the module must output the global host"
  }
}
