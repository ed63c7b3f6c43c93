"""`iac`'s policies as a Pulumi CrossGuard policy pack (see policies.py)."""
