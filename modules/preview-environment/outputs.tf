output "space" {
  description = "The environment's space."
  value       = paved_environment.this.name
}

output "urls" {
  description = "App → URL of each app in the environment (send it to the cell's router)."
  value       = paved_environment.this.urls
}

output "expires_at" {
  description = "When the cell destroys the environment (RFC 3339)."
  value       = paved_environment.this.expires_at
}
