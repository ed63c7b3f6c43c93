"""Diagnostics: problems found in stack files, each pinned to a place in a file.

Every check in `iac` reports through a `Diagnostics` collector that is passed explicitly
(never a global), so that *all* problems of a stack are reported in one run, each as::

    FILE:LINE:COL: error: KEY.PATH: MESSAGE

Lines and columns are 1-based, as editors and compilers print them.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum

KeyPath = tuple[str | int, ...]


def format_path(path: KeyPath) -> str:
    """`("models", "llama", "args", 2)` → `models.llama.args[2]`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


@dataclass(frozen=True, slots=True, order=True)
class Location:
    """A position in a source file (1-based line and column)."""

    file: str
    line: int = 1
    column: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem: where it is, which key, what is wrong and how to fix it."""

    location: Location
    message: str
    path: KeyPath = ()
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        where = f"{format_path(self.path)}: " if self.path else ""
        # One line per diagnostic, whatever a user's key or value contains.
        return _printable(f"{self.location}: {self.severity}: {where}{self.message}")


@dataclass
class Diagnostics:
    """Collects diagnostics. A problem met again through another path (a model setting
    inherited by each of its deployments) is kept once: same place, same message."""

    items: list[Diagnostic] = field(default_factory=list)
    _seen: set[tuple[Location, Severity, str]] = field(default_factory=set, repr=False)

    def add(self, diagnostic: Diagnostic) -> None:
        key = (diagnostic.location, diagnostic.severity, diagnostic.message)
        if key not in self._seen:
            self._seen.add(key)
            self.items.append(diagnostic)

    def error(self, location: Location, message: str, path: KeyPath = ()) -> None:
        self.add(Diagnostic(location, message, path, Severity.ERROR))

    def warning(self, location: Location, message: str, path: KeyPath = ()) -> None:
        self.add(Diagnostic(location, message, path, Severity.WARNING))

    def extend(self, diagnostics: Iterable[Diagnostic]) -> None:
        for diagnostic in diagnostics:
            self.add(diagnostic)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity is Severity.WARNING]

    def has_errors(self) -> bool:
        return any(d.severity is Severity.ERROR for d in self.items)

    def sorted(self) -> list[Diagnostic]:
        """In file order, so the output reads top to bottom like the file."""
        return sorted(self.items, key=lambda d: (d.location, format_path(d.path), d.message))

    def __iter__(self) -> Iterator[Diagnostic]:
        return iter(self.sorted())

    def __len__(self) -> int:
        return len(self.items)


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _printable(text: str) -> str:
    """Control characters (a stray `\\r` in a key) shown escaped, not obeyed."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """A ` did you mean 'X'?` suffix, or '' when nothing is close enough."""
    options = sorted(set(candidates))
    lowered = {c.lower(): c for c in options}
    if word.lower() in lowered:
        return f"; did you mean '{lowered[word.lower()]}'?"
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if not close and len(word) >= 3:  # an abbreviation: `prod` for `production`
        close = [c for c in options if c.lower().startswith(word.lower())][:1]
    return f"; did you mean '{close[0]}'?" if close else ""
