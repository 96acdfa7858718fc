# The hello app in three regions on three clouds. Start three cells with
# --region aws-eu-west-1, gcp-europe-west2 and onprem-london, then
#   PAVED_TOKEN=… tofu apply -var 'endpoints={…}'
terraform {
  required_providers {
    paved = { source = "pavedroad/paved", version = ">= 0.1.0" }
  }
}

variable "endpoints" {
  description = "Cell API URL by region name."
  type        = map(string)
  default = {
    "aws-eu-west-1"    = "http://127.0.0.1:7401"
    "gcp-europe-west2" = "http://127.0.0.1:7402"
    "onprem-london"    = "http://127.0.0.1:7403"
  }
}

provider "paved" {
  regions = { for name, endpoint in var.endpoints : name => { endpoint = endpoint } }
}

module "hello" {
  source = "../.."

  name                = "hello"
  space               = "demo"
  regions             = keys(var.endpoints)
  min_healthy_regions = 2
  global_host         = "hello.global.example.test"
  source_dir          = "${path.module}/../../../../examples/hello"
  build               = "go build -o hello ."
  command             = "./hello"
}

output "regions_status" {
  value = module.hello.regions_status
}
