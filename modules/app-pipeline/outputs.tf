output "space" {
  description = "Space of the app and the pipeline."
  value       = local.space
}

output "app_id" {
  description = "The app's ID (space/name)."
  value       = paved_app.this.id
}

output "urls" {
  description = "URLs of the app's routes (send them to the cell's router)."
  value       = paved_app.this.urls
}

output "release" {
  description = "Release the app runs."
  value       = paved_app.this.release
}

output "pipeline_id" {
  description = "The pipeline's ID (space/name)."
  value       = paved_pipeline.this.id
}

output "jobs" {
  description = "The pipeline's jobs in order."
  value       = var.previews ? ["test", "ship (preview, deploy, check)"] : ["test", "ship (deploy, check)"]
}

output "webhook_path" {
  description = "POST here (with webhook_secret in X-Paved-Webhook-Token) to check the repository at once, e.g. from a git hook."
  value       = paved_pipeline.this.webhook_paths["repo"]
}
