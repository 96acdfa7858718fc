# paved's PostgreSQL broker (paved broker postgres), registered with the cell.
variable "broker_password" {
  type      = string
  sensitive = true
  ephemeral = true
}

resource "paved_service_broker" "postgres" {
  name                = "postgres"
  url                 = "http://127.0.0.1:7600"
  username            = "paved"
  password_wo         = var.broker_password
  password_wo_version = "1" # change it to send a new password
}
