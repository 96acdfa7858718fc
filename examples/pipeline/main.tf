# CI/CD from a git repository on this machine: the configuration creates the
# repository (a copy of examples/hello, committed on main) and ships it with
# the app-pipeline module. Every later commit is tested, checked in a
# preview environment, rolled out with a canary and checked through the
# router.
#   export PAVED_ENDPOINT=… PAVED_TOKEN=…
#   tofu init && tofu apply
#   cd "$(tofu output -raw repository)" && sed -i 's/hello from paved/hello again/' main.go \
#     && git commit -qam again   # then watch: bin/paved builds web/ship --space pipeline
terraform {
  required_version = ">= 1.11" # OpenTofu or Terraform: write-only arguments
  required_providers {
    paved = { source = "pavedroad/paved", version = ">= 0.1.0" }
  }
}

provider "paved" {}

variable "space" {
  description = "Space of the app and its pipeline."
  type        = string
  default     = "pipeline"
}

variable "repository" {
  description = "Where to create the git repository (default: .repo in this directory)."
  type        = string
  default     = null
}

locals {
  repository = coalesce(var.repository, abspath("${path.module}/.repo"))
  host       = "web.${var.space}.example.test"
}

# The repository the pipeline watches, created once (and left in place by
# destroy: it may hold your commits).
resource "terraform_data" "repository" {
  input = local.repository
  provisioner "local-exec" {
    command     = "${path.module}/make-repo.sh '${local.repository}' '${abspath("${path.module}/../hello")}'"
    interpreter = ["/bin/sh", "-c"]
  }
}

module "web" {
  source = "../../modules/app-pipeline"

  space        = var.space
  name         = "web"
  repository   = terraform_data.repository.output
  source_dir   = "${path.module}/../hello"
  build        = "go build -o hello ."
  command      = "./hello"
  test_command = "go vet ./... && go test ./..."
  instances    = 2
  routes       = [local.host]
  strategy     = "canary"
  check_every  = "2s"
  preview_ttl  = "30m"

  # The git hook's secret for webhook_path (never in the plan or the state).
  webhook_secret         = var.webhook_secret
  webhook_secret_version = 1
}

variable "webhook_secret" {
  description = "Secret a git hook sends in X-Paved-Webhook-Token (at least 32 characters; null: polling only). Pass it with TF_VAR_webhook_secret."
  type        = string
  default     = null
  sensitive   = true
  ephemeral   = true
}

output "repository" {
  description = "The git repository the pipeline watches; commit to main to ship."
  value       = terraform_data.repository.output
}

output "host" {
  description = "Host of the app at the cell's router."
  value       = local.host
}

output "webhook_path" {
  description = "POST here with X-Paved-Webhook-Token to check the repository at once."
  value       = module.web.webhook_path
}
