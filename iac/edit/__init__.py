"""Lifecycle verbs that edit the stack file: promote, deactivate, activate.

The stack file stays the only truth: a verb changes the declarations (with comments and
layout kept) and `iac plan` / `iac up` carry the change out. Every verb checks the stack
before and after the edit, and refuses, saying why and what to do, when the result would
be wrong.
"""

from __future__ import annotations

import difflib
import os
import tempfile
from dataclasses import dataclass
from typing import Any

from ruamel.yaml.comments import CommentedMap

from iac.diagnostics import did_you_mean
from iac.edit.roundtrip import Document, load, write_atomically
from iac.errors import IacError, StackInvalid
from iac.load import stack_file
from iac.spec.resolved import ResolvedStack
from iac.validate import check_stack

__all__ = ["Edit", "activate", "deactivate", "promote"]


@dataclass(frozen=True)
class Edit:
    path: str
    summary: str
    diff: str
    """Unified diff of the file."""


def promote(path: str, model: str, deployment: str, environment: str, copy: bool = False) -> Edit:
    """Make `deployment` serve `environment`, applying the environment's cleanup policy to
    the deployment(s) it replaces (every other side of a split); with `copy`, promote a new
    copy when the deployment already serves another environment."""
    file, stack = _checked(path)
    resolved = _model(stack, model)
    env = resolved.environments.get(environment)
    if env is None:
        raise IacError(
            f"model '{model}' has no environment '{environment}'"
            f"{did_you_mean(environment, resolved.environments)}; add it under "
            f"`models.{model}.environments` first"
        )
    target = _deployment(stack, model, deployment)
    if target.kind == "development":
        raise IacError(
            f"'{deployment}' is a development deployment, which never serves an environment; "
            f"declare a published copy (`{deployment}-published: {{from: {deployment}}}`) and "
            "promote that"
        )
    if not target.active:
        raise IacError(
            f"'{deployment}' is inactive; activate it first: "
            f"iac activate {path} {model} {deployment}"
        )
    if env.deployments == (deployment,):
        raise IacError(f"'{deployment}' already serves {environment}; nothing to do")
    serving = {name: e.name for e in resolved.environments.values() for name in e.deployments}
    promoted = deployment
    document = load(file)
    node = document.data["models"][model]
    if deployment in serving and serving[deployment] != environment:
        if not copy:
            raise IacError(
                f"'{deployment}' serves {serving[deployment]}, and a deployment serves one "
                f"environment at a time; add --copy to declare `{deployment}-{environment}: "
                f"{{from: {deployment}}}` and promote that"
            )
        promoted = f"{deployment}-{environment}"
        if promoted in resolved.deployments:
            raise IacError(f"a deployment '{promoted}' exists already; promote it by name")
        _insert_after(node["deployments"], deployment, promoted, {"from": deployment})
    # Every deployment that served it and no longer does: one, or the other sides of a
    # split (the old one too, when the promotion goes back to it).
    replaced = [name for name in env.deployments if name != promoted]
    env_node = node["environments"][environment]
    if "traffic" in env_node:
        # Promoting ends a split: one deployment takes the whole environment.
        _replace_key(env_node, "traffic", "deployment", promoted)
    else:
        env_node["deployment"] = promoted
    notes = [f"{promoted} now serves {environment} of {model}"]
    notes += [_cleanup(node, env_node, name, env.promotion.cleanup) for name in replaced]
    return _finish(document, "; ".join(notes))


def deactivate(path: str, model: str, deployment: str) -> Edit:
    """Deactivate a deployment: objects kept, no pods, no route."""
    file, stack = _checked(path)
    resolved = _model(stack, model)
    target = _deployment(stack, model, deployment)
    for env in resolved.environments.values():
        if deployment in env.deployments:
            raise IacError(
                f"'{deployment}' serves {env.name}; promote another deployment there first "
                f"(iac promote {path} {model} OTHER --to {env.name})"
            )
    if not target.active:
        raise IacError(f"'{deployment}' is inactive already; nothing to do")
    document = load(file)
    _set(document.data["models"][model]["deployments"][deployment], "state", "inactive")
    return _finish(document, f"{deployment} of {model} is deactivated (no pods, no route)")


def activate(path: str, model: str, deployment: str) -> Edit:
    file, stack = _checked(path)
    target = _deployment(stack, model, deployment)
    if target.active:
        raise IacError(f"'{deployment}' is active already; nothing to do")
    document = load(file)
    node = document.data["models"][model]["deployments"][deployment]
    del node["state"]  # active is the default
    return _finish(document, f"{deployment} of {model} is active again")


def _checked(path: str) -> tuple[str, ResolvedStack]:
    file = stack_file(path)
    try:
        return file, check_stack(file)
    except StackInvalid as exc:
        raise IacError(f"{file} has errors; fix them before editing it:\n{exc}") from None


def _model(stack: ResolvedStack, model: str) -> Any:
    found = stack.models.get(model)
    if found is None:
        raise IacError(f"no model '{model}'{did_you_mean(model, stack.models)}")
    return found


def _deployment(stack: ResolvedStack, model: str, deployment: str) -> Any:
    found = _model(stack, model).deployments.get(deployment)
    if found is None:
        names = _model(stack, model).deployments
        raise IacError(
            f"model '{model}' has no deployment '{deployment}'{did_you_mean(deployment, names)}"
        )
    return found


def _cleanup(model_node: Any, env_node: Any, previous: str, policy: str) -> str:
    """What the environment's cleanup policy does to the deployment it no longer runs."""
    if policy == "deactivate":
        _set(model_node["deployments"][previous], "state", "inactive")
        return f"{previous} is deactivated (cleanup: deactivate)"
    if policy == "keep":
        scaling = env_node.get("autoscaling")
        if scaling:
            node = model_node["deployments"][previous]
            merged = node.get("autoscaling")
            if merged is None:
                merged = _flow({}) if not node or node.fa.flow_style() else CommentedMap()
                _set(node, "autoscaling", merged)
            for key, value in scaling.items():
                merged[key] = value
        return f"{previous} keeps running with the environment's scaling (cleanup: keep)"
    return (
        f"{previous} falls back to its own scaling and scales to zero when idle "
        "(cleanup: scale_to_zero)"
    )


def _set(mapping: Any, key: str, value: Any) -> None:
    """Set a key; an empty `{}` stays on its line (`v3: {state: inactive}`)."""
    if not mapping:
        mapping.fa.set_flow_style()
    mapping[key] = value


def _insert_after(mapping: Any, after: str, key: str, value: dict[str, Any]) -> None:
    position = list(mapping).index(after) + 1
    mapping.insert(position, key, _flow(value))


def _replace_key(mapping: Any, old: str, new: str, value: Any) -> None:
    position = list(mapping).index(old)
    del mapping[old]
    mapping.insert(position, new, value)


def _flow(value: dict[str, Any]) -> Any:
    node = CommentedMap(value)
    node.fa.set_flow_style()
    return node


def _finish(document: Document, summary: str) -> Edit:
    text = document.dump()
    _check_result(document, text)
    write_atomically(document, text)
    diff = "".join(
        difflib.unified_diff(
            document.text.splitlines(keepends=True),
            text.splitlines(keepends=True),
            fromfile=document.path,
            tofile=document.path,
        )
    )
    return Edit(document.path, summary, diff)


def _check_result(document: Document, text: str) -> None:
    """The edited file must be valid; checked beside the original so imports resolve."""
    directory = os.path.dirname(os.path.abspath(document.path))
    handle, temp = tempfile.mkstemp(prefix=".iac-check-", suffix=".yaml", dir=directory)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        check_stack(temp)
    except StackInvalid as exc:
        raise IacError(
            f"the edit would make the stack invalid; nothing was written:\n{exc}"
        ) from None
    finally:
        os.unlink(temp)
