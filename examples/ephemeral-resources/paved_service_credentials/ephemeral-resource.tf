# The credentials of a binding, for this run only: here they configure the
# PostgreSQL provider that makes the app's schema. Never in plan or state.
ephemeral "paved_service_credentials" "db" {
  space   = "shop"
  binding = paved_service_binding.web_db.name
}

provider "postgresql" {
  host     = ephemeral.paved_service_credentials.db.credentials["host"]
  port     = ephemeral.paved_service_credentials.db.credentials["port"]
  database = ephemeral.paved_service_credentials.db.credentials["database"]
  username = ephemeral.paved_service_credentials.db.credentials["username"]
  password = ephemeral.paved_service_credentials.db.credentials["password"]
}
