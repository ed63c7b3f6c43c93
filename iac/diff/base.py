"""Where the base of a plan comes from (a file, a git revision, or the live stack), and
what of it can be read.

A base that no longer passes the checks (after an iac upgrade adds one, or a bad merge) must
not stop every plan: the change that repairs it needs one too. So the base is compiled in
part: the models with an error are left out (planned as if new), the rest is compared as
usual, and the plan lists each of the base's errors as a warning (`base-invalid`).
Where the errors are outside the models (the cluster), nothing of the base can be compiled
and the plan compares with an empty base, saying so.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import yaml

from iac.compile import Compiled, compile_stack
from iac.diagnostics import Diagnostic, Diagnostics, Location, Severity, format_path
from iac.diff.findings import Finding
from iac.errors import IacError, StackInvalid
from iac.load import stack_file
from iac.spec.resolved import ResolvedStack
from iac.validate import checked_in_part


@dataclass(frozen=True, slots=True)
class BasePath:
    """A base stack file on disk, and how to name its files to a reader."""

    path: str
    label: str | None = None
    """What the files under `root` are named as (`git:main`, `live`); None: as they are."""
    root: str | None = None
    """The temporary folder holding them."""

    def shown(self, file: str) -> str:
        """`git:main:stacks/prod.yaml` for a file of the temporary copy."""
        if self.root is None or self.label is None:
            return file
        relative = os.path.relpath(file, self.root)
        return file if relative.startswith("..") else f"{self.label}:{relative}"


@dataclass(frozen=True, slots=True)
class Base:
    """The base of a plan, as far as it can be read."""

    stack: ResolvedStack | None
    """The base as loaded (None: it has no stack file); only a valid one is reused by the
    head's load."""
    compiled: Compiled | None
    """Its compile: of the whole base, or of its models without errors, or None."""
    findings: tuple[Finding, ...] = ()
    """What the plan says of an invalid base."""


def read_base(where: BasePath) -> Base:
    """The base at `where`, compiled; an invalid one in part (see the module docstring)."""
    diagnostics = Diagnostics()
    stack = checked_in_part(where.path, diagnostics)
    errors = diagnostics.errors
    if stack is not None and not errors:
        try:
            return Base(stack, compile_stack(stack, Diagnostics()))
        except StackInvalid as exc:
            errors = _errors(exc)
    if stack is None:
        return Base(None, None, _base_findings(where, errors, None, []))
    written = set(stack.spec.models) | _models_in(errors)
    part = stack
    compiled = None
    # Twice: compiling the rest may find errors of its own (two models' objects colliding).
    for _ in range(2):
        if not _within_models(part, errors):
            break
        part = _without(part, _models_in(errors))
        try:
            compiled = compile_stack(part, Diagnostics())
            break
        except StackInvalid as exc:
            errors = [*errors, *_errors(exc)]
    left_out = sorted(written - set(part.models if compiled is not None else ()))
    return Base(stack, compiled, _base_findings(where, errors, compiled, left_out))


def _errors(exc: StackInvalid) -> list[Diagnostic]:
    return [d for d in exc.diagnostics if d.severity is Severity.ERROR]


def _models_in(errors: list[Diagnostic]) -> set[str]:
    return {str(e.path[1]) for e in errors if len(e.path) > 1 and e.path[0] == "models"}


def _within_models(stack: ResolvedStack, errors: list[Diagnostic]) -> bool:
    """Whether leaving models out leaves a valid rest: every error of the stack file is in
    a model (an imported module's errors leave out the models that use it, as the loader
    does), and its top level was read."""
    stack_file_errors = [e for e in errors if e.location.file == stack.file]
    in_models = all(len(e.path) > 1 and e.path[0] == "models" for e in stack_file_errors)
    return in_models and getattr(stack.spec, "cluster", None) is not None


def _without(stack: ResolvedStack, models: set[str]) -> ResolvedStack:
    if not models:
        return stack
    spec = stack.spec.model_copy(
        update={"models": {k: v for k, v in stack.spec.models.items() if k not in models}}
    )
    kept = {name: model for name, model in stack.models.items() if name not in models}
    return dataclasses.replace(stack, spec=spec, models=kept)


def _base_findings(
    where: BasePath, errors: list[Diagnostic], compiled: Compiled | None, left_out: list[str]
) -> tuple[Finding, ...]:
    """A `base-invalid` warning for each of the base's errors, saying what it costs the plan
    (which models are planned as if new) and what to do."""
    label = where.label or where.path
    own = _models_in(errors)
    found = []
    for error in sorted(errors, key=lambda e: (e.location, format_path(e.path), e.message)):
        model = str(error.path[1]) if len(error.path) > 1 and error.path[0] == "models" else None
        if compiled is None:
            cost = "none of the base could be compiled and everything is planned as new"
        elif model is not None:
            cost = f"{model} is planned as if new (compared with nothing)"
        else:
            others = [name for name in left_out if name not in own]
            cost = (
                f"{', '.join(others)} {'is' if len(others) == 1 else 'are'} planned as if new"
                if others
                else "no model is left out of the base for it"
            )
        location = Location(
            where.shown(error.location.file), error.location.line, error.location.column
        )
        path = f"{format_path(error.path)}: " if error.path else ""
        found.append(
            Finding(
                "base-invalid",
                Severity.WARNING,
                f"the base ({label}) fails this iac's checks, so {cost}; fix the base, or "
                f"merge this change if it fixes it: {location}: {path}{error.message}",
                model,
            )
        )
    return tuple(found)


@contextmanager
def base_stack_path(base: str, head_path: str) -> Iterator[BasePath | None]:
    """The base stack file (None when it does not exist there: all is new).

    `git:REF` writes the stack file as it was at REF, with the modules it imports, into a
    temporary directory laid out like the repository.
    """
    if not base.startswith("git:"):
        if not os.path.exists(stack_file(base)):
            # A mistyped path is not a base to read in part: the plan would be all new.
            raise IacError(
                f"--base {base}: no such file; name a stack file (or a folder holding "
                "stack.yaml), git:REF or live"
            )
        yield BasePath(base)
        return
    ref = base[len("git:") :]
    if not ref:
        raise IacError("--base git:REF needs a revision, e.g. git:main or git:HEAD~1")
    head_file = os.path.abspath(stack_file(head_path))
    root = _git(["rev-parse", "--show-toplevel"], os.path.dirname(head_file)).strip()
    relative = os.path.relpath(head_file, root)
    _git(
        ["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], root, f"no git revision '{ref}'"
    )
    with tempfile.TemporaryDirectory(prefix="iac-base-") as tmp:
        if not _materialize(root, ref, relative, tmp, set()):
            yield None
            return
        yield BasePath(os.path.join(tmp, relative), base, tmp)


def _materialize(root: str, ref: str, relative: str, into: str, seen: set[str]) -> bool:
    """Write `relative` at `ref` (and what it imports) under `into`; False if absent."""
    if relative in seen:
        return True
    seen.add(relative)
    try:
        text = _git(["show", f"{ref}:{relative}"], root)
    except IacError:
        return False
    target = os.path.join(into, relative)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, "w", encoding="utf-8") as handle:
        handle.write(text)
    try:
        imports = (yaml.safe_load(text) or {}).get("imports") or []
    except (yaml.YAMLError, AttributeError):
        return True  # the loader reports what is wrong with the file
    for item in imports if isinstance(imports, list) else []:
        if isinstance(item, str):
            path = os.path.normpath(os.path.join(os.path.dirname(relative), item))
            _materialize(root, ref, path, into, seen)
    return True


def _git(args: list[str], cwd: str, problem: str | None = None) -> str:
    try:
        run = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise IacError("--base git:REF needs git on PATH") from None
    if run.returncode != 0:
        raise IacError(problem or f"git {' '.join(args)}: {run.stderr.strip()}")
    return run.stdout
