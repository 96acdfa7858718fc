output "id" {
  description = "The replica set's ID (its name)."
  value       = paved_replica_set.this.id
}

output "global_host" {
  description = "Send requests with this Host header to any region's router."
  value       = paved_replica_set.this.global_host
}

output "regions_status" {
  description = "Per region: ready, degraded (with the reason), missing or skipped; release and running instances."
  value       = paved_replica_set.this.regions_status
}

output "ready_regions" {
  description = "Regions whose app converged."
  value       = [for r, s in paved_replica_set.this.regions_status : r if s.status == "ready"]
}
