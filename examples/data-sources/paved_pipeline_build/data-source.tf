# The latest build of a job, with per-step timings.
data "paved_pipeline_build" "deploy" {
  space    = "shop"
  pipeline = "web"
  job      = "deploy"
}

output "deploy_status" {
  value = data.paved_pipeline_build.deploy.status
}
