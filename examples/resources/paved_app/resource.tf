resource "paved_app" "web" {
  space     = paved_space.shop.name
  name      = "web"
  source    = "${path.module}/web" # directory, .tar.gz or .zip
  build     = "go build -o web ."  # optional
  command   = "./web"
  instances = 4 # default 1; 0 = staged, stopped
  env       = { GREETING = "hello" }
  routes    = ["web.shop.example.test"] # "host" or "host/path"

  # Write-only: never in plan or state. Bump the version to send new values.
  secret_env         = { API_KEY = var.api_key }
  secret_env_version = "1"

  health_check {
    type = "http" # http | tcp | process
    path = "/healthz"
  }

  deployment {
    strategy          = "canary" # rolling (default) | canary | blue_green | recreate
    max_in_flight     = "25%"    # count or percent
    progress_deadline = "2m"
    auto_rollback     = true
    canary {
      steps          = [10, 50] # traffic percent, each watched for `watch`
      watch          = "15s"
      max_error_rate = 0.05
      min_requests   = 20
    }
  }

  timeouts {
    create = "10m"
    update = "15m"
  }
}

variable "api_key" {
  type      = string
  sensitive = true
  ephemeral = true
}
