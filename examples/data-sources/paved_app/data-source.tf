data "paved_app" "web" {
  space = "shop"
  name  = "web"
}

output "web_status" {
  value = "${data.paved_app.web.status}: release ${data.paved_app.web.release}"
}
