# The hello app shipped from a git repository on this machine: run
#   git init -b main /tmp/hello-repo && cp ../../../../examples/hello/* /tmp/hello-repo/ \
#     && git -C /tmp/hello-repo add . && git -C /tmp/hello-repo commit -m init
# then `tofu apply -var repository=/tmp/hello-repo` with PAVED_ENDPOINT and
# PAVED_TOKEN set. Every commit to the repository is then tested, previewed
# and rolled out.
terraform {
  required_providers {
    paved = { source = "pavedroad/paved", version = ">= 0.1.0" }
  }
}

variable "repository" {
  description = "The git repository to ship from."
  type        = string
}

module "hello" {
  source = "../.."

  space      = "hello"
  name       = "web"
  repository = var.repository
  source_dir = "${path.module}/../../../../examples/hello"
  build      = "go build -o hello ."
  command    = "./hello"
  routes     = ["hello.example.test"]
  strategy   = "canary"
}

output "urls" {
  value = module.hello.urls
}
