"""A stack after loading: templates filled in, levels merged, every default applied.

The loader builds these from the stack file as written (`iac.spec.stack`); checks and the
compiler read them and never merge levels themselves. Each object remembers where its
settings were written (`origins`), so later stages can still point at a line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from iac.diagnostics import KeyPath, Location
from iac.spec.autoscaling import Autoscaling
from iac.spec.container import ContainerFields, Kind, State
from iac.spec.stack import Model, Promotion, Stack


class Locator(Protocol):
    """Finds key paths in one file (the loader's SourceMap)."""

    def key(self, path: KeyPath) -> Location: ...
    def value(self, path: KeyPath) -> Location: ...


@dataclass(frozen=True, slots=True)
class Written:
    """Where a setting was written: its key path in a file, located on demand."""

    source: Locator
    path: KeyPath
    at_key: bool = False
    """Point at the key rather than the value (for objects: `v3:` rather than `{...}`)."""

    @property
    def location(self) -> Location:
        return self.source.key(self.path) if self.at_key else self.source.value(self.path)


@dataclass(frozen=True, slots=True)
class Origins:
    """Where each merged setting of an object was written, by key path relative to it."""

    anchor: Written
    """The key of the object itself (`models.llama.deployments.v3`)."""
    written: Mapping[KeyPath, Written] = field(default_factory=dict)

    def __call__(self, rel: KeyPath = ()) -> Location:
        """The location of `rel`, or of its nearest written ancestor, or of the object."""
        return self.find(rel).location

    def path(self, rel: KeyPath = ()) -> KeyPath:
        """The key path (in its own file) where `rel` was written."""
        return self.find(rel).path

    def find(self, rel: KeyPath) -> Written:
        while rel:
            if rel in self.written:
                return self.written[rel]
            rel = rel[:-1]
        return self.anchor


@dataclass(frozen=True, slots=True)
class ResolvedDeployment:
    model: str
    name: str
    state: State
    kind: Kind
    container: ContainerFields
    """Every container field merged; `image`, `port` and `health` are always set."""
    autoscaling: Autoscaling
    """The deployment's own scaling (used while it serves no environment)."""
    copied_from: str | None
    origins: Origins

    @property
    def active(self) -> bool:
        return self.state == "active"


@dataclass(frozen=True, slots=True)
class ResolvedEnvironment:
    model: str
    name: str
    traffic: tuple[tuple[str, int], ...]
    """(deployment, weight) pairs, in the order written; one pair when not split."""
    autoscaling: Autoscaling
    """Scaling of the deployments serving this environment."""
    promotion: Promotion
    origins: Origins

    @property
    def deployments(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.traffic)


@dataclass(frozen=True, slots=True)
class ChainMember:
    """What makes a model a chainlet: its chain, its name there, whom it calls."""

    chain: str
    chainlet: str
    entrypoint: bool
    """Only the entrypoint has endpoints outside the cluster."""
    calls: tuple[str, ...]
    """The chainlets (their names in the chain) it sends requests to."""


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    name: str
    template: str | None
    deployments: Mapping[str, ResolvedDeployment]
    environments: Mapping[str, ResolvedEnvironment]
    origins: Origins
    chain: ChainMember | None = None
    """Set on a chainlet's model (`<chain>-<chainlet>`)."""

    @property
    def answers_as(self) -> str:
        """The name its endpoints are under: a chain's entrypoint answers as the chain."""
        return self.chain.chain if self.chain is not None else self.name

    @property
    def described(self) -> str:
        """How messages name what declares its deployments: `model 'x'`, `chain 'rag'`."""
        return f"chain '{self.chain.chain}'" if self.chain is not None else f"model '{self.name}'"


@dataclass(frozen=True, slots=True)
class ResolvedChain:
    name: str
    entrypoint: str
    chainlets: Mapping[str, str]
    """Chainlet → the name of the model it runs as (in `ResolvedStack.models`)."""
    origins: Origins


@dataclass(frozen=True, slots=True)
class ResolvedStack:
    file: str
    """The stack file, as named to the loader."""
    spec: Stack
    """The stack file as written (validated); `spec.models` also holds the model each
    chainlet runs as, desugared from `spec.chains` (`iac.load.chains`)."""
    models: Mapping[str, ResolvedModel]
    """The models, and each chainlet of a chain as a model `<chain>-<chainlet>`
    (`ResolvedModel.chain` says which)."""
    files: tuple[str, ...]
    """Every file read: the stack file and its imports."""
    source: Locator
    """Positions in the stack file, for problems found in its top-level sections."""
    chains: Mapping[str, ResolvedChain] = field(default_factory=dict)
    """The chains that loaded cleanly; their chainlets are in `models`."""
    chainlet_models: frozenset[str] = frozenset()
    """The names in `spec.models` that are chainlets' models (desugared, not written)."""

    def written_models(self) -> dict[str, Model]:
        """The models the stack file declares under `models:` (no chainlet)."""
        return {n: m for n, m in self.spec.models.items() if n not in self.chainlet_models}
