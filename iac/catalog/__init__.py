"""Static data about hardware: accelerator types, cloud instance types, list prices.

The data lives in YAML files beside this module (reviewed as data, each price with its
source); `catalog()` loads and validates them once.
"""

from iac.catalog.models import AcceleratorType, Catalog, InstanceType, catalog

__all__ = ["AcceleratorType", "Catalog", "InstanceType", "accelerator_names", "catalog"]


def accelerator_names() -> list[str]:
    """Every name a stack may use in `resources.accelerator`, in catalog order."""
    return list(catalog().accelerators)
