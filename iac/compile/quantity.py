"""Kubernetes resource quantities, as far as the compiler needs to compute with them."""

from __future__ import annotations

import re

_UNITS = {
    "": 1,
    "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
}  # fmt: skip
_MEMORY = re.compile(r"^(\d+(?:\.\d+)?)([a-zA-Z]*)$")


def memory_bytes(quantity: str) -> int:
    """`64Gi` → 68719476736. The quantity was validated by the spec."""
    match = _MEMORY.match(quantity)
    if not match or match.group(2) not in _UNITS:
        raise ValueError(f"not a memory quantity: {quantity!r}")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def format_mebibytes(count: int) -> str:
    """8192 → `8Gi`, 1536 → `1536Mi`."""
    return f"{count // 1024}Gi" if count % 1024 == 0 else f"{count}Mi"
