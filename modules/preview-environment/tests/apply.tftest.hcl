# Apply test against a real cell: make test (tests/modules_test.go) starts
# one and sets PAVED_ENDPOINT and PAVED_TOKEN (the provider's defaults). By
# hand: PAVED_ENDPOINT=http://127.0.0.1:7400 PAVED_TOKEN=… tofu test -filter=tests/apply.tftest.hcl

run "setup" {
  module {
    source = "./tests/setup"
  }
  variables {
    space = "modtest-prod"
  }
}

run "preview_of_the_space" {
  command = apply
  variables {
    name       = "modtest-pr-1"
    from_space = run.setup.space
    ttl        = "1h"
    overrides  = { web = { env = { GREETING = "hello from the preview" } } }
  }

  assert {
    condition     = output.space == "modtest-pr-1" && can(output.urls["web"])
    error_message = "the preview must have its space and a URL for the cloned app"
  }
  assert {
    condition     = timecmp(output.expires_at, plantimestamp()) > 0
    error_message = "the preview must expire in the future"
  }
}
