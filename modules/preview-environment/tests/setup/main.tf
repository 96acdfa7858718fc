# The space a preview is cloned from, for the apply test: one app at a good
# release.
terraform {
  required_providers {
    paved = { source = "pavedroad/paved" }
  }
}

variable "space" {
  type = string
}

resource "paved_space" "prod" {
  name = var.space
}

resource "paved_app" "web" {
  space     = paved_space.prod.name
  name      = "web"
  source    = "${path.module}/../../../../examples/hello"
  build     = "go build -o hello ."
  command   = "./hello"
  instances = 1
  routes    = ["web.${var.space}.example.test"]
  health_check {
    type = "http"
    path = "/healthz"
  }
}

output "space" {
  value = paved_space.prod.name
}

output "source" {
  value = paved_app.web.source
}
