"""A finding: what a reviewer should know of a change, with a stable ID and a level.

IDs are stable so that CI rules and suppressions can name them. Levels: `error` fails the
plan, `warning` asks for attention, `info` explains. A finding about a chainlet names its
chain and chainlet (its `model` is the chainlet's, `<chain>-<chainlet>`), as the plan's
events of chains do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from iac.diagnostics import Diagnostic, KeyPath, Severity, format_path


@dataclass(frozen=True, slots=True)
class Finding:
    id: str
    level: Severity
    message: str
    model: str | None = None
    environment: str | None = None
    deployment: str | None = None
    chain: str | None = None
    """The chain it is about (its `model`, if any, one of its chainlets' `<chain>-<chainlet>`)."""
    chainlet: str | None = None
    """The chainlet of `chain` it is about (None: the chain as a whole)."""
    setting: KeyPath = ()
    """Key path of the setting to change, under its environment (or, with no environment,
    its deployment): where `iac plan` locates it in the stack file (`iac.diff.located`)."""

    @property
    def about(self) -> str | None:
        """Whom it is about, as a plan heads it: `llama`, `chain rag, chainlet llm`."""
        if self.chain is None:
            return self.model
        return f"chain {self.chain}" + (f", chainlet {self.chainlet}" if self.chainlet else "")

    def to_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {"id": self.id, "level": self.level.value, "message": self.message}
        for key in ("model", "environment", "deployment", "chain", "chainlet"):
            if getattr(self, key) is not None:
                found[key] = getattr(self, key)
        return found


_CODE = re.compile(r"\s*\[([a-z0-9-]+)\]$")


def from_diagnostic(diagnostic: Diagnostic) -> Finding:
    """A compile warning (`... [pool-cap-below-demand]`) as a finding; one located under
    `chains.<chain>` is about that chain, and about the chainlet its key path names
    (`chainlets.<chainlet>`, an environment's `autoscaling.<chainlet>`)."""
    match = _CODE.search(diagnostic.message)
    code = match.group(1) if match else "compile-warning"
    message = _CODE.sub("", diagnostic.message)
    level = diagnostic.severity
    located = f"{diagnostic.location}: {message}"
    path = diagnostic.path
    if path[:1] == ("chains",) and len(path) > 1:  # with its key path: which chainlet's
        chain, chainlet = str(path[1]), _chainlet(path)
        model = f"{chain}-{chainlet}" if chainlet else None
        located = f"{diagnostic.location}: {format_path(path)}: {message}"
        return Finding(code, level, located, model, chain=chain, chainlet=chainlet)
    model = str(path[1]) if path[:1] == ("models",) else None
    return Finding(code, level, located, model)


def _chainlet(path: KeyPath) -> str | None:
    """The chainlet a key path under `chains.<chain>` is about, if any."""
    for i, key in enumerate(path[:-1]):
        if key == "chainlets" or (key == "autoscaling" and "environments" in path[:i]):
            return str(path[i + 1])
    return None
