# An environment is imported by its name.
tofu import paved_environment.pr_42 pr-42
# The cell does not keep the overrides: the plan after the import records the
# configured ones in place (no replacement).
