"""Resource options the stack asks of the Pulumi program, per object: `protect` and aliases.

Plain data next to the objects (never inside them: a Kubernetes object stays exactly what
`iac render` prints), keyed by `object_id`, so the program and tests read the same thing.

- `protect`: every object of a model with `protect: true`, and the shared weights volume of
  a deployment whose `weights.protect` is set.
- aliases: for a model or deployment with `previous_names`, each object is paired with the
  object the same declarations give under the old name. Pairs are found by what an object
  is rather than by its name: its API version, kind, namespace and the model and deployment
  it belongs to (labels every per-model object carries). The old objects come from
  compiling the stack once more with that one name changed back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from iac.compile import labels
from iac.compile.names import logical_name, object_id
from iac.compile.serving.weights import claim_name
from iac.spec.resolved import ResolvedDeployment, ResolvedModel, ResolvedStack

Identity = tuple[str, str, str, str, str]
"""(apiVersion, kind, namespace, model, deployment): what an object is, name aside."""


@dataclass(frozen=True, slots=True)
class ObjectOptions:
    protect: bool = False
    """Pulumi refuses to delete the resource until this is false again."""
    aliases: tuple[str, ...] = ()
    """Logical names (`Kind/namespace/name`, iac.compile.names.logical_name) the object had
    under previous names: the program registers each as a Pulumi alias."""


def protected_ids(stack: ResolvedStack, objects: Iterable[dict[str, Any]]) -> set[str]:
    """Objects of protected models, and protected weights volumes."""
    models = {name for name, spec in stack.spec.models.items() if spec.protect}
    claims = {
        claim_name(weights)
        for model in stack.models.values()
        for deployment in model.deployments.values()
        if (weights := deployment.container.weights) is not None
        and weights.cache == "cluster"
        and weights.protect
    }
    found: set[str] = set()
    if not models and not claims:
        return found  # the common case: no pass over (thousands of) objects
    for obj in objects:
        metadata = obj["metadata"]
        owner = (metadata.get("labels") or {}).get(labels.MODEL)
        claim = obj["kind"] == "PersistentVolumeClaim" and metadata["name"] in claims
        if owner in models or claim:
            found.add(object_id(obj))
    return found


def renames(stack: ResolvedStack) -> list[tuple[str, str | None, str]]:
    """(model, deployment or None, old name) for every declared previous name."""
    found: list[tuple[str, str | None, str]] = []
    for name, spec in sorted(stack.spec.models.items()):
        found += [(name, None, old) for old in spec.previous_names or ()]
        for deployment, dspec in sorted(spec.deployments.items()):
            found += [(name, deployment, old) for old in dspec.previous_names or ()]
    return found


def renamed(stack: ResolvedStack, model: str, deployment: str | None, old: str) -> ResolvedStack:
    """The stack with one model (or one deployment of it) called by its old name."""
    current = stack.models[model]
    spec = stack.spec.models[model]
    if deployment is None:
        deployments = {
            name: dataclasses.replace(d, model=old) for name, d in current.deployments.items()
        }
        environments = {
            name: dataclasses.replace(e, model=old) for name, e in current.environments.items()
        }
        models = _replace_key(
            stack.models,
            model,
            old,
            dataclasses.replace(
                current, name=old, deployments=deployments, environments=environments
            ),
        )
        specs = _replace_key(stack.spec.models, model, old, spec)
    else:
        moved: ResolvedDeployment = dataclasses.replace(current.deployments[deployment], name=old)
        environments = {
            name: dataclasses.replace(
                env,
                traffic=tuple((old if d == deployment else d, w) for d, w in env.traffic),
            )
            for name, env in current.environments.items()
        }
        updated: ResolvedModel = dataclasses.replace(
            current,
            deployments=_replace_key(current.deployments, deployment, old, moved),
            environments=environments,
        )
        models = {**stack.models, model: updated}
        specs = {
            **stack.spec.models,
            model: spec.model_copy(
                update={
                    "deployments": _replace_key(
                        spec.deployments, deployment, old, spec.deployments[deployment]
                    )
                }
            ),
        }
    return dataclasses.replace(
        stack, models=models, spec=stack.spec.model_copy(update={"models": specs})
    )


def identity(
    obj: dict[str, Any],
    models: Mapping[str, str] | None = None,
    deployments: Mapping[str, str] | None = None,
) -> Identity:
    """What `obj` is, its model and deployment names mapped through `models`/`deployments`."""
    metadata = obj["metadata"]
    found = metadata.get("labels") or {}
    model = found.get(labels.MODEL, "")
    deployment = found.get(labels.DEPLOYMENT, "")
    return (
        obj["apiVersion"],
        obj["kind"],
        metadata.get("namespace", ""),
        (models or {}).get(model, model),
        (deployments or {}).get(deployment, deployment),
    )


def alias_ids(
    stack: ResolvedStack,
    objects: list[dict[str, Any]],
    compile_objects: Callable[[ResolvedStack], list[dict[str, Any]]],
) -> dict[str, list[str]]:
    """Object ID → the logical names of the same object under each previous name that
    changes it."""
    found: dict[str, list[str]] = {}
    for model, deployment, old in renames(stack):
        if old in (stack.models if deployment is None else stack.models[model].deployments):
            continue  # still in use: reported by validation
        before = compile_objects(renamed(stack, model, deployment, old))
        # The old objects' identities, with the old name mapped to the current one.
        if deployment is None:
            old_by_key = _unique(
                (identity(o, {old: model}), o) for o in before if _belongs(o, old, None)
            )
        else:
            old_by_key = _unique(
                (identity(o, deployments={old: deployment}), o)
                for o in before
                if _belongs(o, model, old)
            )
        new_by_key = _unique((identity(o), o) for o in objects if _belongs(o, model, deployment))
        for ident, obj in new_by_key.items():
            previous = old_by_key.get(ident)
            if previous is None or logical_name(previous) == logical_name(obj):
                continue
            found.setdefault(object_id(obj), []).append(logical_name(previous))
    return found


def _belongs(obj: dict[str, Any], model: str, deployment: str | None) -> bool:
    """Whether `obj` is an object of the model (of its deployment, when one is named)."""
    found = obj["metadata"].get("labels") or {}
    if found.get(labels.MODEL) != model:
        return False
    return deployment is None or found.get(labels.DEPLOYMENT) == deployment


def _unique(pairs: Iterable[tuple[Identity, dict[str, Any]]]) -> dict[Identity, dict[str, Any]]:
    """Identity → object, leaving out identities that several objects share (no safe pair)."""
    seen: dict[Identity, dict[str, Any]] = {}
    shared: set[Identity] = set()
    for ident, obj in pairs:
        if ident in seen:
            shared.add(ident)
        seen[ident] = obj
    return {k: v for k, v in seen.items() if k not in shared}


def _replace_key(mapping: Mapping[str, Any], key: str, new: str, value: Any) -> dict[str, Any]:
    return {(new if k == key else k): (value if k == key else v) for k, v in mapping.items()}
