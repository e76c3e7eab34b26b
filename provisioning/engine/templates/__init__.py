"""Text templates for generated skills: small functions, one per file kind and flavour."""
