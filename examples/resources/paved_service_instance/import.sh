# An instance is imported as SPACE/NAME.
tofu import paved_service_instance.db shop/donations-db
