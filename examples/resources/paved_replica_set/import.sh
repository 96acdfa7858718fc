# A replica set is imported by its name, from the regions that hold it
# (their order, and so the canary region, follows the region names).
tofu import paved_replica_set.web web
