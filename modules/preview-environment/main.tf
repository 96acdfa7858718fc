# A preview environment: a space cloned from another with every app at its
# last good release, some apps running the change under review, gone after
# its TTL with everything in it.

resource "paved_environment" "this" {
  name       = var.name
  from_space = var.from_space
  ttl        = var.ttl
  # Only the overrides the caller set: null fields keep the app's own.
  overrides = length(var.overrides) == 0 ? null : {
    for app, o in var.overrides : app => { for k, v in o : k => v if v != null }
  }
}
