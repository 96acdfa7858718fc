# A token is imported by its id (paved token list); its secret stays the
# one it was created with.
tofu import paved_token.ci tok_0123456789abcdef
