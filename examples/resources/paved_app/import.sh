# An app is imported as SPACE/NAME.
tofu import paved_app.web shop/web
# The plan after an import only records what the cell cannot know (the local
# `source` path and `secret_env_version`): applying it rolls nothing out, and
# the app keeps the secrets it has until `secret_env_version` changes.

# Or, with OpenTofu 1.12+ / Terraform 1.12+, by identity in an import block:
#   import {
#     to       = paved_app.web
#     identity = { space = "shop", name = "web" }
#   }
