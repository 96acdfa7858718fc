# Quickstart: one app on one cell. With a cell running (`bin/paved server`),
#   export PAVED_ENDPOINT=http://127.0.0.1:7400 PAVED_TOKEN=$(cat DATA/admin.token)
#   tofu init && tofu apply
#   curl -H "Host: $(tofu output -raw host)" http://127.0.0.1:7480/
terraform {
  required_version = ">= 1.11" # OpenTofu or Terraform: write-only arguments
  required_providers {
    paved = { source = "pavedroad/paved", version = ">= 0.1.0" }
  }
}

provider "paved" {} # PAVED_ENDPOINT and PAVED_TOKEN

variable "space" {
  description = "Space of the app."
  type        = string
  default     = "quickstart"
}

variable "greeting" {
  description = "What the app answers; change it and apply again to watch a rolling deploy."
  type        = string
  default     = "hello from paved"
}

resource "paved_space" "this" {
  name = var.space
}

resource "paved_app" "hello" {
  space     = paved_space.this.name
  name      = "hello"
  source    = "${path.module}/../hello"
  build     = "go build -o hello ."
  command   = "./hello"
  instances = 2
  env       = { GREETING = var.greeting }
  routes    = ["hello.${var.space}.example.test"]

  health_check {
    type = "http"
    path = "/healthz"
  }
}

output "host" {
  description = "Send requests to the cell's router with this Host header."
  value       = "hello.${var.space}.example.test"
}

output "release" {
  description = "The release the app runs."
  value       = paved_app.hello.release
}
