data "paved_cell" "this" {}

output "router" {
  value = data.paved_cell.this.router_url
}
