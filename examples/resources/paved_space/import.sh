# A space is imported by its name.
tofu import paved_space.shop shop
