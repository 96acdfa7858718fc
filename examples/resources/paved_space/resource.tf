resource "paved_space" "shop" {
  name   = "shop"
  labels = { owner = "payments" }
}
