data "paved_service_offerings" "all" {}

output "plans" {
  value = { for o in data.paved_service_offerings.all.offerings : o.name => [for p in o.plans : p.name] }
}
