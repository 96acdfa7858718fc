terraform {
  required_version = ">= 1.6"
  required_providers {
    paved = {
      source  = "pavedroad/paved"
      version = ">= 0.1.0"
    }
  }
}
