"""One report protocol for the commands that print a report (`iac plan`, `cost`,
`simulate`, `status`): each report can be written as text for a terminal, markdown for a
pull request and JSON for a program, and `formatted` is the one place that picks the
writing for `--format`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

FORMATS = ("text", "markdown", "json")
"""The values of `--format` for every report."""

Style = Callable[..., str]
"""`click.style`, or anything with its signature; text reports call it for colour."""


def plain(text: str, **_: Any) -> str:
    """The style that adds nothing (no terminal, or tests)."""
    return text


class Report(Protocol):
    def text(self, style: Style) -> str:
        """For a terminal; `style` colours."""

    def markdown(self) -> str:
        """For a pull-request comment."""

    def json(self) -> str:
        """For a program: the command's documented JSON shape."""


def formatted(report: Report, fmt: str, style: Style = plain) -> str:
    """`report` written in the format `--format` names (one of FORMATS)."""
    if fmt == "json":
        return report.json()
    if fmt == "markdown":
        return report.markdown()
    if fmt == "text":
        return report.text(style)
    raise ValueError(f"unknown report format {fmt!r}: one of {', '.join(FORMATS)}")
