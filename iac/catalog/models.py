"""The catalog's data files (accelerators.yaml, instances.yaml), validated on load.

The data is kept out of code so that prices and instance types are reviewed as data, each
with its source and date. `catalog()` loads and checks both files once per process.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

HERE = Path(__file__).parent


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class Source(_Data):
    """Where figures come from."""

    url: str
    date: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    """Day the figures were read."""
    region: str | None = None
    note: str | None = None


class Mig(_Data):
    """A MIG slice: `per_device` slices of `profile` on one `parent` device."""

    parent: str
    profile: str
    per_device: int = Field(ge=1)


class ReferencePrices(_Data):
    """Baseten's hourly price for N devices (reference only: Baseten's managed price)."""

    source: str
    hourly: dict[int, float]


class AcceleratorType(_Data):
    """An accelerator type a stack may name."""

    name: str = ""
    memory_gib: int = Field(ge=1)
    resource: str
    gpu_products: tuple[str, ...] = ()
    """Values of GPU feature discovery's `nvidia.com/gpu.product` on nodes with the device,
    one per board; none on a MIG slice (its nodes are named after the parent's)."""
    karpenter_gpu_name: str
    karpenter_gpu_memory: int | None = Field(None, ge=1)
    """`karpenter.k8s.aws/instance-gpu-memory` (MiB of one device); None on a MIG slice."""
    gke_accelerator: str
    gke_accelerator_of_series: dict[str, str] = Field(default_factory=dict)
    """GKE's name of the device on the machines of a series that names it otherwise."""
    max_per_node: int = Field(ge=1)
    mig: Mig | None = None
    baseten: ReferencePrices | None = None


class InstanceType(_Data):
    """A cloud instance type carrying accelerators."""

    name: str = ""
    accelerator: str
    gpus: int = Field(ge=1)
    """Devices of `accelerator` on one instance."""
    vcpu: int = Field(ge=1)
    memory_gib: float = Field(gt=0)
    hourly: float | None = Field(None, ge=0)
    """On-demand list price per hour (USD); None where no price was found."""
    source: str | None = None
    """Key into `sources` for `hourly`."""


class AcceleratorFile(_Data):
    version: Literal[1]
    sources: dict[str, Source]
    label_sources: dict[str, str]
    """Field of the accelerators → key into `sources` for the node label values it holds."""
    accelerators: dict[str, AcceleratorType]

    @model_validator(mode="after")
    def _references(self) -> AcceleratorFile:
        for field, source in self.label_sources.items():
            if field not in AcceleratorType.model_fields:
                raise ValueError(f"label_sources: no accelerator field '{field}'")
            if source not in self.sources:
                raise ValueError(f"label_sources: {field}: unknown source '{source}'")
        for name, accelerator in self.accelerators.items():
            if accelerator.baseten and accelerator.baseten.source not in self.sources:
                raise ValueError(f"{name}: unknown source '{accelerator.baseten.source}'")
            if accelerator.mig and accelerator.mig.parent not in self.accelerators:
                raise ValueError(f"{name}: unknown MIG parent '{accelerator.mig.parent}'")
            # A slice's nodes are the parent's: their labels are read from the parent.
            own_labels = (
                accelerator.gpu_products,
                accelerator.karpenter_gpu_memory,
                accelerator.gke_accelerator_of_series,
            )
            if accelerator.mig and any(own_labels):
                raise ValueError(
                    f"{name}: a MIG slice takes gpu_products, karpenter_gpu_memory and "
                    "gke_accelerator_of_series from its parent"
                )
            if not accelerator.mig and not (
                accelerator.gpu_products and accelerator.karpenter_gpu_memory
            ):
                raise ValueError(f"{name}: gpu_products and karpenter_gpu_memory are required")
        return self


class InstanceFile(_Data):
    version: Literal[1]
    sources: dict[str, Source]
    instances: dict[Literal["aws", "gcp"], dict[str, InstanceType]]

    @model_validator(mode="after")
    def _references(self) -> InstanceFile:
        for cloud, instances in self.instances.items():
            for name, instance in instances.items():
                if instance.source is not None and instance.source not in self.sources:
                    raise ValueError(f"{cloud}/{name}: unknown source '{instance.source}'")
                if instance.hourly is not None and instance.source is None:
                    raise ValueError(f"{cloud}/{name}: a price needs a source")
        return self


class Catalog(_Data):
    accelerators: dict[str, AcceleratorType]
    instances: dict[str, dict[str, InstanceType]]
    sources: dict[str, Source]

    @functools.cached_property
    def answered(self) -> dict[tuple[str, str], tuple[InstanceType, ...]]:
        """Answers of `instances_for`, kept: a 1,000-model stack asks the same few thousands
        of times (placing, pricing and costing each deployment), and the catalog never
        changes. (Not a private attribute: pydantic reads those through `__getattr__`, which
        costs more than the lookup it guards; docs/benchmarks.md, "What each speed device buys".)"""
        return {}

    def instances_for(self, cloud: str, accelerator: str) -> tuple[InstanceType, ...]:
        """Instance types of `cloud` carrying `accelerator`, fewest GPUs first."""
        key = (cloud, accelerator)
        known = self.answered.get(key)
        if known is None:
            found = [
                i for i in self.instances.get(cloud, {}).values() if i.accelerator == accelerator
            ]
            # Unpriced types sort after priced ones of the same size.
            found.sort(key=lambda i: (i.gpus, i.hourly is None, i.hourly or 0.0, i.name))
            known = self.answered[key] = tuple(found)
        return known


def _read(name: str) -> object:
    with (HERE / name).open(encoding="utf-8") as handle:
        return yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


@functools.cache
def catalog() -> Catalog:
    """The built-in catalog, validated (a broken data file fails loudly, once)."""
    accelerators = AcceleratorFile.model_validate(_read("accelerators.yaml"))
    instances = InstanceFile.model_validate(_read("instances.yaml"))
    for cloud, entries in instances.instances.items():
        for name, entry in entries.items():
            if entry.accelerator not in accelerators.accelerators:
                raise ValueError(
                    f"instances.yaml: {cloud}/{name}: unknown accelerator {entry.accelerator}"
                )
    named = accelerators.accelerators
    return Catalog(
        accelerators={n: a.model_copy(update={"name": n}) for n, a in named.items()},
        instances={
            cloud: {n: i.model_copy(update={"name": n}) for n, i in entries.items()}
            for cloud, entries in instances.instances.items()
        },
        sources={**accelerators.sources, **instances.sources},
    )
