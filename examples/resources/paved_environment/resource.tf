# A preview of the shop space with a branch build of web, gone after a day.
resource "paved_environment" "pr_42" {
  name       = "pr-42"
  from_space = "shop"
  ttl        = "24h"
  overrides = {
    web = {
      source    = "${path.module}/web" # the branch's directory
      instances = 1
      env       = { FEATURE_FLAG = "on" }
    }
  }
}

output "preview_web" {
  value = paved_environment.pr_42.urls["web"]
}
