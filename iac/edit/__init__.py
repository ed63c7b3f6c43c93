"""Lifecycle verbs that edit the stack file: promote, deactivate, activate.

The stack file stays the only truth: a verb changes the declarations and `iac plan` /
`iac up` carry the change out. A verb changes exactly the lines it means to, at the
positions the parser reports (`iac.edit.text`): the rest of the file stays byte for byte
as written (indentation, comments, quotes, anchors, CRLF, a byte order mark). Every verb
checks the stack before and after the edit, checks that the edited file loads to the data
it meant, and refuses, saying why and what to do, when the result would be wrong.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from typing import Any

from iac.diagnostics import Diagnostics, did_you_mean
from iac.edit.source import Source, read, unified_diff, write_atomically
from iac.edit.text import Editor, Path
from iac.errors import IacError, StackInvalid
from iac.load import stack_file
from iac.load.yaml_source import parse_yaml
from iac.spec.resolved import ResolvedDeployment, ResolvedModel, ResolvedStack
from iac.validate import check_stack

__all__ = ["Edit", "activate", "deactivate", "promote"]


@dataclass(frozen=True)
class Edit:
    path: str
    summary: str
    diff: str
    """Unified diff of the file: what was written (or, in a dry run, would be)."""
    written: bool
    """False in a dry run, and when there was nothing to do (`diff` is then empty)."""


def promote(
    path: str,
    model: str,
    deployment: str,
    environment: str,
    copy: bool = False,
    dry_run: bool = False,
) -> Edit:
    """Make `deployment` serve `environment`, applying the environment's cleanup policy to
    the deployment(s) it replaces (every other side of a split); with `copy`, promote a new
    copy when the deployment is a development one or serves another environment."""
    file, stack = _checked(path)
    owner = _owner(stack, model)
    resolved = owner.model
    env = resolved.environments.get(environment)
    if env is None:
        raise IacError(
            f"{owner.described} has no environment '{environment}'"
            f"{did_you_mean(environment, resolved.environments)}; add it under "
            f"`{owner.section}.{model}.environments` first"
        )
    target = _deployment(owner, deployment)
    copy_name = f"{deployment}-{environment}"
    _refuse_unservable(target, path, model, copy_name, copy)
    if env.deployments == (deployment,):
        return _nothing(file, f"{deployment} serves {environment} of {owner.label} already")
    serving = {name: e.name for e in resolved.environments.values() for name in e.deployments}
    elsewhere = serving.get(deployment, environment) != environment
    if elsewhere and not copy:
        raise IacError(
            f"'{deployment}' serves {serving[deployment]}, and a deployment serves one "
            f"environment at a time; add --copy to declare `{copy_name}: "
            f"{{from: {deployment}}}` and promote that"
        )
    source, editor = _editor(file)
    model_path: Path = (owner.section, model)
    promoted = deployment
    if elsewhere or target.kind == "development":
        promoted = copy_name
        if promoted in resolved.deployments:
            raise IacError(f"a deployment '{promoted}' exists already; promote it by name")
        editor.set((*model_path, "deployments"), promoted, {"from": deployment}, deployment)
    env_path: Path = (*model_path, "environments", environment)
    if "traffic" in (editor.written_data(env_path) or {}):
        # Promoting ends a split: one deployment takes the whole environment.
        editor.replace_pair(env_path, "traffic", "deployment", promoted)
    else:
        editor.set(env_path, "deployment", promoted)
    # Every deployment that served it and no longer does: one, or the other sides of a
    # split (the old one too, when the promotion goes back to it).
    replaced = [name for name in env.deployments if name != promoted]
    notes = [f"{promoted} now serves {environment} of {owner.label}"]
    if copy and promoted == deployment:
        # Said, not silently ignored: the user asked for a copy and gets none.
        notes[0] += f" (no copy: {deployment} is published and serves no other environment)"
    notes += [_cleanup(editor, owner, env_path, name, env.promotion.cleanup) for name in replaced]
    return _finish(source, editor, "; ".join(notes), dry_run)


def _refuse_unservable(
    target: ResolvedDeployment, path: str, model: str, copy_name: str, copy: bool
) -> None:
    """Raise IacError when `target` cannot serve an environment as it is: a development
    deployment (unless a copy is asked for), or an inactive one."""
    deployment = target.name
    if target.kind == "development" and not copy:
        raise IacError(
            f"'{deployment}' is a development deployment, which never serves an environment; "
            f"add --copy to declare a published copy (`{copy_name}: {{from: {deployment}}}`) "
            "and promote that"
        )
    if not target.active:
        raise IacError(
            f"'{deployment}' is inactive; activate it first: "
            f"iac activate {path} {model} {deployment}"
        )


def deactivate(path: str, model: str, deployment: str, dry_run: bool = False) -> Edit:
    """Deactivate a deployment: objects kept, no pods, no route."""
    file, stack = _checked(path)
    owner = _owner(stack, model)
    target = _deployment(owner, deployment)
    for env in owner.model.environments.values():
        if deployment in env.deployments:
            raise IacError(
                f"'{deployment}' serves {env.name}; promote another deployment there first "
                f"(iac promote {path} {model} OTHER --to {env.name})"
            )
    if not target.active:
        return _nothing(file, f"{deployment} of {owner.label} is inactive already")
    source, editor = _editor(file)
    editor.set((owner.section, model, "deployments", deployment), "state", "inactive")
    summary = f"{deployment} of {owner.label} is deactivated (no pods, no route)"
    return _finish(source, editor, summary, dry_run)


def activate(path: str, model: str, deployment: str, dry_run: bool = False) -> Edit:
    file, stack = _checked(path)
    owner = _owner(stack, model)
    target = _deployment(owner, deployment)
    if target.active:
        return _nothing(file, f"{deployment} of {owner.label} is active already")
    source, editor = _editor(file)
    written: Path = (owner.section, model, "deployments", deployment)
    if editor.can_delete(written, "state"):
        editor.delete(written, "state")  # active is the default
    else:  # the only key of its block, or merged in with `<<`: say it
        editor.set(written, "state", "active")
    return _finish(source, editor, f"{deployment} of {owner.label} is active again", dry_run)


def _checked(path: str) -> tuple[str, ResolvedStack]:
    file = stack_file(path)
    try:
        return file, check_stack(file)
    except StackInvalid as exc:
        raise IacError(f"{file} has errors; fix them before editing it:\n{exc}") from None


@dataclass(frozen=True)
class _Owner:
    """What declares the deployments a verb names: a model, or a chain (whose chainlets
    share its deployments and environments, by the same names and states)."""

    section: str
    """`models` or `chains`: where it is written in the stack file."""
    name: str
    model: ResolvedModel
    """The model itself, or the chain's entrypoint (each chainlet has the chain's
    deployments and environments)."""
    chainlets: tuple[str, ...] = ()

    @property
    def described(self) -> str:
        return f"{self.section[:-1]} '{self.name}'"

    @property
    def label(self) -> str:
        """How a summary names it: `llama`, `chain rag`."""
        return f"chain {self.name}" if self.section == "chains" else self.name


def _owner(stack: ResolvedStack, name: str) -> _Owner:
    """The model or chain called `name`; a chainlet's model is refused, naming its chain."""
    chain = stack.chains.get(name)
    if chain is not None:
        entrypoint = stack.models[chain.chainlets[chain.entrypoint]]
        return _Owner("chains", name, entrypoint, tuple(chain.chainlets))
    found = stack.models.get(name)
    if found is not None and found.chain is not None:
        member = found.chain
        raise IacError(
            f"'{name}' is chainlet '{member.chainlet}' of chain '{member.chain}', whose "
            f"deployments are the chain's: name the chain '{member.chain}' instead"
        )
    if found is None:
        names = [*stack.written_models(), *stack.chains]
        what = "model or chain" if stack.chains else "model"
        raise IacError(f"no {what} '{name}'{did_you_mean(name, names)}")
    return _Owner("models", name, found)


def _deployment(owner: _Owner, deployment: str) -> Any:
    found = owner.model.deployments.get(deployment)
    if found is None:
        names = owner.model.deployments
        raise IacError(
            f"{owner.described} has no deployment '{deployment}'{did_you_mean(deployment, names)}"
        )
    return found


def _cleanup(editor: Editor, owner: _Owner, env_path: Path, previous: str, policy: str) -> str:
    """What the environment's cleanup policy does to the deployment it no longer runs."""
    written: Path = (owner.section, owner.name, "deployments", previous)
    if policy == "deactivate":
        editor.set(written, "state", "inactive")
        return f"{previous} is deactivated (cleanup: deactivate)"
    if policy == "keep":
        scaling = editor.written_data((*env_path, "autoscaling"))
        if scaling and owner.section == "chains":
            # Per chainlet, into each one's override of the deployment.
            overrides = {name: {"autoscaling": value} for name, value in scaling.items()}
            _merge_deep(editor, written, "chainlets", overrides)
        elif scaling:
            editor.merge_into(written, "autoscaling", scaling)
        return f"{previous} keeps running with the environment's scaling (cleanup: keep)"
    return (
        f"{previous} falls back to its own scaling and scales to zero when idle "
        "(cleanup: scale_to_zero)"
    )


def _merge_deep(editor: Editor, mapping: Path, key: str, values: dict[str, Any]) -> None:
    """`merge_into`, recursing into mappings written already on both sides."""
    current = editor.written_data((*mapping, key))
    if not isinstance(current, dict):
        editor.set(mapping, key, values)
        return
    for sub, value in values.items():
        if isinstance(value, dict) and isinstance(current.get(sub), dict):
            _merge_deep(editor, (*mapping, key), sub, value)
        elif current.get(sub) != value:
            editor.set((*mapping, key), sub, value)


def _editor(file: str) -> tuple[Source, Editor]:
    source = read(file)
    document = parse_yaml(source.raw, file, Diagnostics())
    assert document is not None  # the stack was checked a moment ago
    return source, Editor(file, source.body, document.data)


def _nothing(file: str, state: str) -> Edit:
    return Edit(file, f"{state}; nothing to do", "", written=False)


def _finish(source: Source, editor: Editor, summary: str, dry_run: bool) -> Edit:
    body = editor.result()
    data = source.encode(body)
    _check_loads_as_meant(source, editor, data)
    _check_result(source.path, data)
    if not dry_run:
        write_atomically(source, data)
    return Edit(source.path, summary, unified_diff(source.path, source.body, body), not dry_run)


def _check_loads_as_meant(source: Source, editor: Editor, data: bytes) -> None:
    """The edited file must load to the data before it with the edit made, nothing else
    (a guard: a layout the text edits get wrong is refused, never written)."""
    document = parse_yaml(data, source.path, Diagnostics())
    if document is None or document.data != editor.expected():
        raise IacError(
            f"iac could not make this edit to {source.path} without changing more than it "
            "means to; nothing was written. Make the change by hand, and please report the "
            "file's layout as an iac bug"
        )


def _check_result(path: str, data: bytes) -> None:
    """The edited file must be valid; checked beside the original so imports resolve."""
    directory = os.path.dirname(os.path.abspath(path))
    handle, temp = tempfile.mkstemp(prefix=".iac-check-", suffix=".yaml", dir=directory)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        check_stack(temp)
    except StackInvalid as exc:
        shown = str(exc).replace(os.path.normpath(temp), f"{path} (as edited)")
        raise IacError(
            f"the edit would make the stack invalid; nothing was written:\n{shown}"
        ) from None
    finally:
        os.unlink(temp)
