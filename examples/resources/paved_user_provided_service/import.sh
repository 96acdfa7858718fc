# A user-provided service is imported as SPACE/NAME; set credentials_wo_version afterwards.
tofu import paved_user_provided_service.legacy_db shop/legacy-db
