# A broker is imported by its name; set password_wo_version afterwards.
tofu import paved_service_broker.postgres postgres
