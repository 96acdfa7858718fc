# A database that lives outside paved, bound to apps like any service.
variable "legacy_db_uri" {
  type      = string
  sensitive = true
  ephemeral = true
}

resource "paved_user_provided_service" "legacy_db" {
  space                  = paved_space.shop.name
  name                   = "legacy-db"
  credentials_wo         = jsonencode({ uri = var.legacy_db_uri })
  credentials_wo_version = "1" # change it to send new credentials
  tags                   = ["mysql"]
}
