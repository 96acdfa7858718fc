terraform {
  required_providers {
    paved = {
      source = "pavedroad/paved"
    }
  }
}

# endpoint and token default to $PAVED_ENDPOINT and $PAVED_TOKEN.
provider "paved" {
  endpoint = "http://127.0.0.1:7400"
}
