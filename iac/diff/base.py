"""Where the base of a plan comes from: a file, a git revision, or the live stack."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import yaml

from iac.errors import IacError
from iac.load import stack_file


@contextmanager
def base_stack_path(base: str, head_path: str) -> Iterator[str | None]:
    """A path to the base stack file (None when it does not exist there: all is new).

    `git:REF` writes the stack file as it was at REF, with the modules it imports, into a
    temporary directory laid out like the repository.
    """
    if not base.startswith("git:"):
        yield base
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
        yield os.path.join(tmp, relative)


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
