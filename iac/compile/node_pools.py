"""Which GPU node pool a deployment lands on."""

from __future__ import annotations

from iac.spec.stack import Stack
from iac.spec.types import parse_accelerator


def pool_for(stack: Stack, accelerator_type: str) -> str:
    """The declared pool of that accelerator type (first by name), else the derived one."""
    for name in sorted(stack.node_pools):
        if parse_accelerator(stack.node_pools[name].accelerator)[0] == accelerator_type:
            return name
    return derived_pool_name(accelerator_type)


def derived_pool_name(accelerator_type: str) -> str:
    """`H100_40GB` → `gpu-h100-40gb`."""
    return "gpu-" + accelerator_type.lower().replace("_", "-")
