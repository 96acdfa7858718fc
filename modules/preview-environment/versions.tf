terraform {
  required_version = ">= 1.11" # OpenTofu or Terraform: write-only arguments
  required_providers {
    paved = {
      source  = "pavedroad/paved"
      version = ">= 0.1.0"
    }
  }
}
