"""iac: declarative infrastructure-as-code for GPU model serving."""
