# A pipeline is imported as SPACE/NAME.
tofu import paved_pipeline.web shop/web
# The plan after the import only records `webhook_secrets_wo_version`: the
# sources keep the webhook secrets they have until it changes.
