data "paved_space" "shop" {
  name = "shop"
}
