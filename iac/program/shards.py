"""A large stack as several Pulumi stacks of one project (`cluster.shards`, docs/program.md,
"Large stacks: sharding").

Pulumi stack `NAME` holds the cluster-wide objects (and, with one shard, every model);
`NAME.s00` .. `NAME.s<K-1>` hold the models, each model in shard `crc32(model) mod K`: stable
while K is, and independent of the other models, so adding or removing a model touches its
own shard only. Every update of a Pulumi stack registers and diffs that stack's objects only,
so a change costs what its shards hold, not what the fleet holds.

No Pulumi import: the program, `iac up` and the tests share these rules.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from iac.compile import Compiled
from iac.compile.release import Release
from iac.errors import IacError
from iac.program.layout import owner

_SHARD_NAME = re.compile(r"^(?P<base>.+)\.s(?P<index>[0-9]{2,4})$")


@dataclass(frozen=True, slots=True)
class Part:
    """Which objects one Pulumi stack of an iac stack holds."""

    index: int | None
    """The shard's number; None: the stack of the cluster-wide objects."""
    count: int
    """How many model shards the stack has (`cluster.shards`)."""

    def holds(self, model: str | None) -> bool:
        """Whether this Pulumi stack registers the objects of `model` (None: cluster-wide)."""
        if model is None or self.count == 1:
            return self.index is None
        return self.index == shard_of(model, self.count)

    def stack_name(self, base: str) -> str:
        """This part's Pulumi stack, for the iac stack applied as Pulumi stack `base`."""
        if self.index is None:
            return base
        return f"{base}.s{self.index:0{_width(self.count)}d}"


def whole() -> Part:
    """The one Pulumi stack of an unsharded iac stack."""
    return Part(None, 1)


def parts(count: int) -> list[Part]:
    """Every Pulumi stack of an iac stack with `count` shards: the cluster's first."""
    return [Part(None, count)] + ([Part(i, count) for i in range(count)] if count > 1 else [])


def shard_of(model: str, count: int) -> int:
    """The shard of `model` among `count`."""
    return zlib.crc32(model.encode("utf-8")) % count


def _width(count: int) -> int:
    return max(2, len(str(count - 1)))


def split_name(stack_name: str) -> tuple[str, int | None]:
    """`dev.s07` → (`dev`, 7); `dev` → (`dev`, None)."""
    found = _SHARD_NAME.match(stack_name)
    if found is None:
        return stack_name, None
    return found["base"], int(found["index"])


def part_of_stack(stack_name: str, count: int) -> Part:
    """The part Pulumi stack `stack_name` holds of an iac stack with `count` shards; IacError
    when the name does not fit the count."""
    base, index = split_name(stack_name)
    if index is None:
        return Part(None, count)
    expected = Part(index, count).stack_name(base) if index < count else None
    if count == 1 or expected != stack_name:
        shards = [p.stack_name(base) for p in parts(count)[1:]]
        named = (
            f"its model shards are {shards[0]} .. {shards[-1]}"
            if shards
            else f"it is applied as the one Pulumi stack {base}"
        )
        raise IacError(
            f"Pulumi stack {stack_name} names shard {index} of stack {base}, whose stack file "
            f"declares cluster.shards: {count}: {named}. Select one of those, or change "
            "cluster.shards"
        )
    return Part(index, count)


def select(compiled: Compiled, part: Part) -> Compiled:
    """The objects (and cloud resources) of `compiled` that `part` registers."""
    return split(compiled, part.count)[part.index]


def split(compiled: Compiled, count: int) -> dict[int | None, Compiled]:
    """`select` of every part of `count` at once, in one pass over the objects, keyed by
    `Part.index`: what a stage gives its model shards (a hundred passes over 18,000 objects
    cost seconds of `iac up`'s CPU)."""
    if count == 1:
        return {None: compiled}
    held: dict[int | None, list[dict[str, Any]]] = {None: [], **{i: [] for i in range(count)}}
    shards: dict[str, int] = {}
    for obj in compiled.objects:
        model = owner(obj)
        if model is not None and model not in shards:
            shards[model] = shard_of(model, count)
        held[None if model is None else shards[model]].append(obj)
    return {
        index: replace(compiled, objects=objects, cloud=compiled.cloud if index is None else [])
        for index, objects in held.items()
    }


def models_of(names: Iterable[str], part: Part) -> list[str]:
    """Those of `names` (models) whose objects `part` registers, sorted."""
    return sorted(name for name in names if part.holds(name))


def release_of(release: Release, part: Part) -> Release:
    """What the RELEASE output of `part` shows: a model shard, the part of `release` about
    its own models (the cluster and its pools as they are). The cluster's stack keeps the
    whole release, which `iac status` and other tools read."""
    if part.index is None:
        return release
    return replace(
        release, models={name: release.models[name] for name in models_of(release.models, part)}
    )
