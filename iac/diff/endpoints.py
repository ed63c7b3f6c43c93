"""The endpoint URLs a change adds, moves or removes: what callers of the models see.

An environment's URL is its stable endpoint (`iac.spec.endpoints`): one that moves breaks
every client that calls it, so a move is a finding a reviewer cannot miss; deployments'
own URLs come and go with the deployments.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from iac.compile.release import Release
from iac.diagnostics import Severity
from iac.diff.findings import Finding

_Key = tuple[str, str, str]
"""(model, `environment` or `deployment`, its name)."""


@dataclass(frozen=True, slots=True)
class EndpointChanges:
    added: list[tuple[_Key, str]]
    removed: list[tuple[_Key, str]]
    moved: list[tuple[_Key, str, str]]
    """(what, from URL, to URL)."""

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.moved)

    def to_dict(self) -> dict[str, Any]:
        def entry(key: _Key) -> dict[str, str]:
            return {"model": key[0], key[1]: key[2]}

        return {
            "added": [{**entry(key), "url": url} for key, url in self.added],
            "removed": [{**entry(key), "url": url} for key, url in self.removed],
            "moved": [{**entry(key), "from": a, "to": b} for key, a, b in self.moved],
        }


def endpoint_urls(release: Release) -> dict[_Key, str]:
    """Every endpoint of a release: each environment's, and each routed deployment's."""
    found: dict[_Key, str] = {}
    for name, model in sorted(release.models.items()):
        for env in sorted(model.environments):
            found[(name, "environment", env)] = model.endpoints.environment_url(env)
        for deployment in sorted(model.deployments):
            if model.deployments[deployment].routed:
                url = model.endpoints.deployment_url(deployment)
                found[(name, "deployment", deployment)] = url
    return found


def endpoint_changes(base: Release | None, head: Release) -> EndpointChanges:
    before = endpoint_urls(base) if base is not None else {}
    after = endpoint_urls(head)
    return EndpointChanges(
        added=[(key, url) for key, url in after.items() if key not in before],
        removed=[(key, url) for key, url in before.items() if key not in after],
        moved=[
            (key, before[key], url)
            for key, url in after.items()
            if key in before and before[key] != url
        ],
    )


def endpoint_findings(changes: EndpointChanges) -> list[Finding]:
    """A warning for each environment whose URL moves."""
    return [
        Finding(
            "endpoint-moved",
            Severity.WARNING,
            f"the {key[2]} endpoint of {key[0]} moves from {old} to {new}: the old URL "
            "stops answering once this is applied; update the clients, or keep the old URL "
            "(`cluster.endpoints`, the model's `hostname`)",
            key[0],
            key[2],
        )
        for key, old, new in changes.moved
        if key[1] == "environment"
    ]
