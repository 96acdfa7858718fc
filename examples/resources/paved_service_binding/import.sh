# A binding is imported as SPACE/NAME.
tofu import paved_service_binding.web_db shop/web-db
