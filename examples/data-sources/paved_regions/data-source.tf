# Every region of the provider's `regions`, healthy or not.
data "paved_regions" "all" {}

output "routers" {
  # Each healthy region's router.
  value = {
    for name, r in data.paved_regions.all.regions : name => r.router_url if r.healthy
  }
}

output "down" {
  value = { for name, r in data.paved_regions.all.regions : name => r.error if !r.healthy }
}
