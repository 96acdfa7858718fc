resource "paved_service_instance" "db" {
  space    = paved_space.shop.name
  name     = "donations-db"
  offering = "postgresql"
  plan     = "small" # changed in place: the plans are updateable

  timeouts {
    create = "10m"
  }
}
