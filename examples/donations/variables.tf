variable "endpoints" {
  description = "Cell API URL of each region, by region name (each cell's --region)."
  type        = map(string)
  default = {
    "aws-eu-west-1"    = "http://127.0.0.1:7401"
    "gcp-europe-west2" = "http://127.0.0.1:7402"
    "onprem-london"    = "http://127.0.0.1:7403"
  }
}

variable "tokens" {
  description = "API token of each region's cell, by region name."
  type        = map(string)
  sensitive   = true
}

variable "routers" {
  description = "Router base URL (http://host:port) of each region, by region name: the app's PEERS."
  type        = map(string)
  default = {
    "aws-eu-west-1"    = "http://127.0.0.1:7481"
    "gcp-europe-west2" = "http://127.0.0.1:7482"
    "onprem-london"    = "http://127.0.0.1:7483"
  }
}

variable "global_host" {
  description = "Host every region's router serves the donations app at."
  type        = string
  default     = "donations.example.test"
}
