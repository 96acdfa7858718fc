# An app is imported as SPACE/NAME.
tofu import paved_app.web shop/web

# Or, with OpenTofu 1.12+ / Terraform 1.12+, by identity in an import block:
#   import {
#     to       = paved_app.web
#     identity = { space = "shop", name = "web" }
#   }
