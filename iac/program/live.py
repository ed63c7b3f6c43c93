"""What is live on a Pulumi stack: the release rebuilt from the stack files its last update
recorded (the SOURCES output). No Pulumi import: the caller reads the outputs."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from iac.compile import Compiled, compile_stack
from iac.errors import IacError, StackInvalid
from iac.validate import check_stack

__all__ = ["live_compiled"]


def live_compiled(sources: object) -> Compiled | None:
    """The release that is live, from the stack files recorded at the last apply (None
    before the first one)."""
    if not isinstance(sources, dict) or not isinstance(sources.get("files"), dict):
        return None
    with tempfile.TemporaryDirectory(prefix="iac-live-") as tmp:
        for relative, text in sources["files"].items():
            path = Path(tmp, relative).resolve()
            if not str(path).startswith(str(Path(tmp).resolve())):
                continue  # recorded paths stay inside the folder
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(str(text), encoding="utf-8")
        try:
            return compile_stack(check_stack(os.path.join(tmp, str(sources["stack"]))))
        except StackInvalid as exc:
            raise IacError(
                f"the live stack files no longer check ({exc}); apply with a fixed iac"
            ) from None
