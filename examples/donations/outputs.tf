output "global_host" {
  description = "Send requests to any region's router with this Host header."
  value       = paved_replica_set.donations.global_host
}

output "regions" {
  description = "Each region's cell: healthy, cloud and router address, or the error."
  value = { for name, r in data.paved_regions.all.regions :
    name => r.healthy ? "${r.cloud}, router ${r.router_address}" : "down: ${r.error}"
  }
}

output "regions_status" {
  description = "Each region: ready, degraded (with the reason), missing or skipped."
  value       = paved_replica_set.donations.regions_status
}

output "try_it" {
  description = "A donation, and the global total, through each region."
  value = [for name, url in var.routers :
    "curl -H 'Host: ${var.global_host}' -d '{\"key\":\"${name}-1\",\"amount\":500}' ${url}/donate && curl -H 'Host: ${var.global_host}' ${url}/total"
  ]
}
