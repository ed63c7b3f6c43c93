"""What is live on a Pulumi stack: the release rebuilt from the stack files its last update
recorded (the SOURCES output). No Pulumi import: the caller reads the outputs."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from iac.compile import Compiled, compile_stack
from iac.diff.base import Base, BasePath, read_base
from iac.errors import IacError, StackInvalid
from iac.validate import check_stack

__all__ = ["live_base", "live_compiled"]


def live_compiled(sources: object, reuse: Compiled | None = None) -> Compiled | None:
    """The release that is live, from the stack files recorded at the last apply (None
    before the first one). `reuse`: another compile (the head's) whose models the live
    release has unchanged keep their objects, compiled once (`compile_release`)."""
    with _written(sources) as where:
        if where is None:
            return None
        try:
            return compile_stack(check_stack(where.path), reuse=reuse)
        except StackInvalid as exc:
            raise IacError(
                f"the live stack files no longer check ({exc}); apply with a fixed iac"
            ) from None


def live_base(sources: object) -> Base | None:
    """The live release as the base of a plan (None before the first apply): where its
    stack files no longer pass this iac's checks, what of them can be read, with their
    errors as findings (`iac.diff.base.read_base`), so the change that fixes them gets a
    plan."""
    with _written(sources) as where:
        return read_base(where) if where is not None else None


@contextmanager
def _written(sources: object) -> Iterator[BasePath | None]:
    """The recorded stack files, written into a temporary folder."""
    if not isinstance(sources, dict) or not isinstance(sources.get("files"), dict):
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="iac-live-") as tmp:
        for relative, text in sources["files"].items():
            path = Path(tmp, relative).resolve()
            if not str(path).startswith(str(Path(tmp).resolve())):
                continue  # recorded paths stay inside the folder
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(str(text), encoding="utf-8")
        yield BasePath(os.path.join(tmp, str(sources["stack"])), "live", tmp)
