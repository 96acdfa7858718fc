# An environment is imported by its name.
tofu import paved_environment.pr_42 pr-42
