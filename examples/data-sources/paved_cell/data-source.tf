data "paved_cell" "this" {}

output "router" {
  value = "http://${data.paved_cell.this.router_address}"
}
