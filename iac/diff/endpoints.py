"""The endpoint URLs a change adds, moves or removes: what callers of the models see.

An environment's URL is its stable endpoint (`iac.spec.endpoints`): one that moves breaks
every client that calls it, so a move is a finding a reviewer cannot miss; deployments'
own URLs come and go with the deployments. A chain's are its entrypoint's, listed once under
the chain's name (as the stack output `endpoints` does): its other chainlets have none.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from iac.compile.release import Release
from iac.diagnostics import Severity
from iac.diff.findings import Finding

_Key = tuple[str, str, str, bool]
"""(model or chain, `environment` or `deployment`, its name, whether the first is a chain)."""


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
        def entry(key: _Key) -> dict[str, str | None]:
            if key[3]:  # a chain's: no one model's (as a chain's events), the chain named
                return {"model": None, "chain": key[0], key[1]: key[2]}
            return {"model": key[0], key[1]: key[2]}

        return {
            "added": [{**entry(key), "url": url} for key, url in self.added],
            "removed": [{**entry(key), "url": url} for key, url in self.removed],
            "moved": [{**entry(key), "from": a, "to": b} for key, a, b in self.moved],
        }


def endpoint_urls(release: Release) -> dict[_Key, str]:
    """Every endpoint of a release: each environment's, and each routed deployment's; a
    chain's once, under its name (its entrypoint's: the only chainlet routed)."""
    found: dict[_Key, str] = {}
    for _, model in sorted(release.models.items(), key=lambda item: item[1].answers_as):
        if not model.routed:
            continue
        name, chain = model.answers_as, model.chain is not None
        for env in sorted(model.environments):
            found[(name, "environment", env, chain)] = model.endpoints.environment_url(env)
        for deployment in sorted(model.deployments):
            if model.deployments[deployment].routed:
                url = model.endpoints.deployment_url(deployment)
                found[(name, "deployment", deployment, chain)] = url
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
            f"the {key[2]} endpoint of {'chain ' if key[3] else ''}{key[0]} moves from {old} "
            f"to {new}: the old URL stops answering once this is applied; update the clients, "
            f"or keep the old URL (`cluster.endpoints`, the {'chain' if key[3] else 'model'}'s "
            "`hostname`)",
            None if key[3] else key[0],
            key[2],
            chain=key[0] if key[3] else None,
        )
        for key, old, new in changes.moved
        if key[1] == "environment"
    ]
