"""What preflight finds missing: one `Missing` per thing, naming it, the objects that need
it and how to get it. Most are errors (the apply would fail, or serve nothing, or serve
without the keys it asks for); a few are warnings (the objects work, less safely: a Gateway
taking the models' hosts over HTTP only)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from iac.compile import labels
from iac.diagnostics import Severity

SHOWN_OBJECTS = 3
"""Objects named in a message before `and N more`."""


@dataclass(frozen=True, slots=True)
class Missing:
    """A thing the cluster lacks that the objects need; `id` is stable (a plan finding's)."""

    id: str
    message: str
    model: str | None = None
    """The model whose objects need it, when only one model's do."""
    deployment: str | None = None
    """The deployment whose objects need it, when only one deployment's do."""
    level: Severity = Severity.ERROR
    """An error stops `iac up` (and fails `iac preflight`); a warning is printed only."""


def describe(obj: Mapping[str, Any]) -> str:
    """`Deployment models/llama-3-8b-v3`, `NodePool gpu-h100` (cluster-scoped)."""
    meta = obj.get("metadata", {})
    namespace = meta.get("namespace")
    where = f"{namespace}/" if namespace else ""
    return f"{obj.get('kind')} {where}{meta.get('name')}"


def needed_by(objects: Sequence[Mapping[str, Any]]) -> str:
    """`Deployment models/a`, `HTTPRoute models/a, HTTPRoute models/b and 3 more`."""
    names = sorted({describe(o) for o in objects})
    shown = ", ".join(names[:SHOWN_OBJECTS])
    rest = len(names) - SHOWN_OBJECTS
    return f"{shown} and {rest} more" if rest > 0 else shown


def missing(
    finding_id: str,
    message: str,
    objects: Sequence[Mapping[str, Any]],
    level: Severity = Severity.ERROR,
) -> Missing:
    """A `Missing` whose model (and deployment) are those of `objects`, when they share one."""
    models = {_label(o, labels.MODEL) for o in objects}
    deployments = {_label(o, labels.DEPLOYMENT) for o in objects}
    model = next(iter(models)) if len(models) == 1 else None
    deployment = next(iter(deployments)) if model and len(deployments) == 1 else None
    return Missing(finding_id, message, model, deployment, level)


def errors(found: Sequence[Missing]) -> list[Missing]:
    """The findings that stop an apply."""
    return [m for m in found if m.level == Severity.ERROR]


def shown(found: Missing) -> str:
    """`error: <message> [<id>]`, as `iac preflight` and `iac up` print each finding."""
    return f"{found.level}: {found.message} [{found.id}]"


def _label(obj: Mapping[str, Any], key: str) -> str | None:
    value = (obj.get("metadata", {}).get("labels") or {}).get(key)
    return str(value) if value is not None else None
