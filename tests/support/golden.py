"""Golden files: expected outputs kept in the repository, compared byte for byte."""

from __future__ import annotations

from pathlib import Path


def check_golden(path: Path, actual: str, update: bool) -> None:
    """Compare `actual` with the file at `path`, or rewrite it under --update-golden."""
    if update:
        path.write_text(actual, encoding="utf-8")
        return
    assert path.exists(), f"{path} is missing; run `make golden` to create it"
    assert actual == path.read_text(encoding="utf-8")
