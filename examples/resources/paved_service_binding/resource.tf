# The app's instances find the credentials in VCAP_SERVICES
# (VCAP_SERVICES.postgresql[0].credentials.uri).
resource "paved_service_binding" "web_db" {
  space    = paved_space.shop.name
  name     = "web-db"
  instance = paved_service_instance.db.name
  app      = paved_app.web.name
}
