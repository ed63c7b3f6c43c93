"""Drift: what was changed by hand on the cluster since iac applied it (issue #22, item 8).

Each object of the live release (the one `iac up` last applied) is read back from the API
server and compared with what iac declares of it, field by field: only the fields iac
writes, so what the API server defaults, what controllers add (statuses, the `spec.replicas`
KEDA and the HPA set where iac declares none, annotations of their own) and extra labels are
never drift. A declared field whose live value differs (`kubectl scale` of a deactivated
deployment, an edited route weight), a declared list item that is gone, and an object that
is gone are each one `Drift`, naming the object and the field, declared against live. The
next `iac up` restores them (docs/drift.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from iac.compile import labels
from iac.preflight.cluster import ClusterReader
from iac.preflight.missing import describe

NOT_COMPARED_KINDS = frozenset({"Secret"})
"""A Secret's values are never read back (`stringData` is write-only, `data` is secret)."""

_QUANTITY = re.compile(r"^([+-]?\d+(?:\.\d+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_SCALE = {
    None: Fraction(1), "m": Fraction(1, 1000),
    "k": Fraction(10**3), "M": Fraction(10**6), "G": Fraction(10**9), "T": Fraction(10**12),
    "P": Fraction(10**15), "E": Fraction(10**18), "Ki": Fraction(2**10), "Mi": Fraction(2**20),
    "Gi": Fraction(2**30), "Ti": Fraction(2**40), "Pi": Fraction(2**50), "Ei": Fraction(2**60),
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Drift:
    """One declared field (or object) the cluster no longer has as declared."""

    object: str
    """`HTTPRoute models/mistral`."""
    field: str | None
    """`spec.rules[0].backendRefs[1].weight`; None: the whole object is gone."""
    declared: Any
    live: Any
    model: str | None = None
    deployment: str | None = None

    @property
    def message(self) -> str:
        if self.field is None:
            return (
                f"{self.object} is declared but not on the cluster (deleted by hand?); "
                "the next `iac up` creates it again"
            )
        live = "absent" if self.live is _ABSENT else _shown(self.live)
        return (
            f"{self.object}: {self.field} is {live} on the cluster, declared "
            f"{_shown(self.declared)} (changed by hand?); the next `iac up` restores it"
        )


class _Absent:
    def __repr__(self) -> str:
        return "absent"


_ABSENT: Any = _Absent()


def resource_name(obj: Mapping[str, Any]) -> str:
    """How kubectl names the object's kind unambiguously: `HTTPRoute.v1.gateway.networking.k8s.io`,
    `Deployment.v1.apps`, `Service` (the core group)."""
    group, _, version = str(obj["apiVersion"]).rpartition("/")
    return f"{obj['kind']}.{version}.{group}" if group else str(obj["kind"])


def find_drift(objects: Sequence[Mapping[str, Any]], reader: ClusterReader) -> list[Drift]:
    """The drift of each of `objects` (as compiled) on the cluster `reader` reads."""
    found: list[Drift] = []
    for obj in objects:
        if obj.get("kind") in NOT_COMPARED_KINDS:
            continue
        meta = obj.get("metadata", {})
        live = reader.get(resource_name(obj), meta["name"], meta.get("namespace"))
        owner = meta.get("labels", {})
        where = {"model": owner.get(labels.MODEL), "deployment": owner.get(labels.DEPLOYMENT)}
        if live is None:
            found.append(Drift(describe(obj), None, obj, None, **where))
            continue
        for path, declared, value in _differences(_declared(obj), live, ""):
            found.append(Drift(describe(obj), path, declared, value, **where))
    return found


def _declared(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of `obj` compared: all but its identity and status."""
    return {key: value for key, value in obj.items() if key not in ("apiVersion", "kind", "status")}


def _differences(declared: Any, live: Any, path: str) -> Iterator[tuple[str, Any, Any]]:
    """(path, declared, live) of each declared leaf the live value does not have."""
    if isinstance(declared, Mapping):
        if not isinstance(live, Mapping):
            yield path, declared, live
            return
        for key, value in declared.items():
            where = f"{path}.{key}" if path else str(key)
            if key not in live:
                if not _empty(value):  # `{}` and `[]` the API server leaves out
                    yield where, value, _ABSENT
                continue
            yield from _differences(value, live[key], where)
    elif isinstance(declared, list):
        if not isinstance(live, list) or len(live) != len(declared):
            yield path, declared, live
            return
        for index, (item, value) in enumerate(zip(declared, live, strict=True)):
            yield from _differences(item, value, f"{path}[{index}]")
    elif not _same(declared, live):
        yield path, declared, live


def _empty(value: Any) -> bool:
    return value in ({}, [], None)


def _same(declared: Any, live: Any) -> bool:
    """Equal as the API server stores them: `1` and `1.0`, `500m` and `0.5`, `1Gi` and
    `1024Mi` are the same."""
    if declared == live:
        return True
    if isinstance(declared, str) and isinstance(live, str):
        one, other = _quantity(declared), _quantity(live)
        return one is not None and one == other
    if isinstance(declared, str) and isinstance(live, int | float) and not isinstance(live, bool):
        return _quantity(declared) == live  # a quantity written as text, stored as a number
    if (
        isinstance(live, str)
        and isinstance(declared, int | float)
        and not isinstance(declared, bool)
    ):
        return _quantity(live) == declared
    return False


def _quantity(text: str) -> Fraction | None:
    match = _QUANTITY.match(text)
    if match is None:
        return None
    return Fraction(match.group(1)) * _SCALE[match.group(2)]


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return repr(value) if not value or " " in value else value
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return f"{value:g}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
