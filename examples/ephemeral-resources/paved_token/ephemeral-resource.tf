# The default provider holds an admin token; the team's resources are
# applied with a short-lived space_developer token of the team's space
# instead, minted for this run, renewed while it lasts and revoked at its
# end. The token is never in the plan or the state.
provider "paved" {
  endpoint = "https://paved.example.com:7400"
  # token: $PAVED_TOKEN, an admin token
}

ephemeral "paved_token" "team" {
  name  = "team-shop-run"
  role  = "space_developer" # admin | space_developer | space_auditor | pipeline_operator
  space = "shop"
  ttl   = "15m" # the default; renewed by as much again before it expires
}

provider "paved" {
  alias    = "team"
  endpoint = "https://paved.example.com:7400"
  token    = ephemeral.paved_token.team.secret
}

resource "paved_app" "web" {
  provider = paved.team
  space    = "shop"
  name     = "web"
  source   = "${path.module}/app"
  build    = "go build -o web ."
  command  = "./web"
}

# Or hand the scoped provider to a module: everything in it acts as the
# team's token.
module "shop" {
  source    = "./modules/shop"
  providers = { paved = paved.team }
}
