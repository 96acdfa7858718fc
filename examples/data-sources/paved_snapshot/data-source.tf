# The newest snapshot of a space: the last good release of every app.
data "paved_snapshot" "shop" {
  space = "shop"
}

output "good_releases" {
  value = data.paved_snapshot.shop.releases
}
