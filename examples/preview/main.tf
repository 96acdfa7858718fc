# Preview environments: a "shop" space with the hello app, and a preview of
# it in which hello answers with another greeting, gone after its TTL.
#   export PAVED_ENDPOINT=… PAVED_TOKEN=…
#   tofu init && tofu apply
terraform {
  required_version = ">= 1.11" # OpenTofu or Terraform: write-only arguments
  required_providers {
    paved = { source = "pavedroad/paved", version = ">= 0.1.0" }
  }
}

provider "paved" {}

variable "space" {
  description = "The space that is previewed."
  type        = string
  default     = "shop"
}

variable "preview" {
  description = "Name of the preview environment (also its space)."
  type        = string
  default     = "pr-1"
}

resource "paved_space" "shop" {
  name = var.space
}

resource "paved_app" "web" {
  space     = paved_space.shop.name
  name      = "web"
  source    = "${path.module}/../hello"
  build     = "go build -o hello ."
  command   = "./hello"
  instances = 2
  env       = { GREETING = "hello from ${var.space}" }
  routes    = ["web.${var.space}.example.test"]

  health_check {
    type = "http"
    path = "/healthz"
  }
}

module "preview" {
  source = "../../modules/preview-environment"

  name = var.preview
  # From the app's space, once the app has a good release to clone.
  from_space = paved_app.web.space
  ttl        = "2h"
  overrides = {
    web = { instances = 1, env = { GREETING = "hello from ${var.preview}" } }
  }
}

output "production_host" {
  description = "Host of the space's web app at the router."
  value       = "web.${var.space}.example.test"
}

output "preview_urls" {
  description = "App → URL in the preview (send it to the router)."
  value       = module.preview.urls
}

output "preview_expires_at" {
  value = module.preview.expires_at
}
