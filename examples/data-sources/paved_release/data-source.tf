# The release that last rolled out healthy.
data "paved_release" "good" {
  space     = "shop"
  app       = "web"
  last_good = true
}

# Or one release by number.
data "paved_release" "first" {
  space  = "shop"
  app    = "web"
  number = 1
}
