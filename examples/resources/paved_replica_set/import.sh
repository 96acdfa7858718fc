# A replica set is imported by its name, from the regions that hold it
# (their order, and so the canary region, follows the region names).
tofu import paved_replica_set.web web
# The plan after the import only records `app.source` and
# `app.secret_env_version`: no region rolls out.
