# A preview of the space "shop" with web built from a branch's checkout,
# for a day. PAVED_ENDPOINT and PAVED_TOKEN name the cell.
terraform {
  required_providers {
    paved = { source = "pavedroad/paved", version = ">= 0.1.0" }
  }
}

variable "pr" {
  description = "Pull request number."
  type        = number
}

variable "checkout" {
  description = "Directory of the branch's checkout."
  type        = string
}

module "preview" {
  source = "../.."

  name       = "pr-${var.pr}"
  from_space = "shop"
  ttl        = "24h"
  overrides = {
    web = { source = var.checkout, instances = 1 }
  }
}

output "urls" {
  value = module.preview.urls
}
