"""The Pulumi stack's outputs: one place that names them and computes their values.

`iac plan --base live` reads `release` back from a stack, and tests check these values
directly (Pulumi's mocks do not expose the root stack's exports). No Pulumi import, so
reading the names costs nothing.
"""

from __future__ import annotations

from typing import Any

from iac.compile.release import Release

RELEASE = "release"
"""`Release.to_dict()`: who serves what, with which autoscaling (JSON-able)."""
ENDPOINTS = "endpoints"
"""`{model: {environment: URL}}`: the stable endpoint of every environment."""
OUTPUTS: tuple[str, ...] = (RELEASE, ENDPOINTS)
"""Every output the program exports, by name."""


def stack_outputs(release: Release) -> dict[str, Any]:
    """The value of each output in OUTPUTS."""
    return {RELEASE: release.to_dict(), ENDPOINTS: endpoints(release)}


def endpoints(release: Release) -> dict[str, dict[str, str]]:
    """`https://<domain>/environments/<env>/` per environment; without a domain, the path
    alone (the Gateway's address is not known to the stack)."""
    domain = release.cluster.domain
    base = f"https://{domain}" if domain else ""
    return {
        name: {env: f"{base}/environments/{env}/" for env in sorted(model.environments)}
        for name, model in sorted(release.models.items())
    }
