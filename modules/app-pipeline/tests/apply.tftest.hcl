# Apply test against a real cell: make test (tests/modules_test.go) starts
# one and sets PAVED_ENDPOINT, PAVED_TOKEN (the provider's defaults) and
# TF_VAR_repository (a git repository holding examples/hello). By hand:
#   PAVED_ENDPOINT=http://127.0.0.1:7400 PAVED_TOKEN=$(cat DATA/admin.token) \
#   TF_VAR_repository=/path/to/repo tofu test -filter=tests/apply.tftest.hcl

variables {
  space      = "modtest-pipeline"
  name       = "web"
  source_dir = "../../examples/hello"
  build      = "go build -o hello ."
  command    = "./hello"
  instances  = 1
  routes     = ["web.modtest.example.test"]
  # A value, not the default: Terraform 1.11's test runner otherwise sets
  # the ephemeral variable at apply but not at plan, and fails.
  webhook_secret         = "modtest-webhook-secret-0123456789abcdef"
  webhook_secret_version = 1
}

run "apply_app_and_pipeline" {
  command = apply

  assert {
    condition     = paved_app.this.status == "running" && paved_app.this.running_instances == 1
    error_message = "the app must be running its one instance after the apply"
  }
  assert {
    condition     = paved_app.this.release >= 1 && output.release == paved_app.this.release
    error_message = "the app must run a release and the module must output it"
  }
  assert {
    condition     = startswith(output.webhook_path, "/v1/spaces/modtest-pipeline/pipelines/web/sources/repo/check")
    error_message = "the module must output the repository's webhook path"
  }
}
