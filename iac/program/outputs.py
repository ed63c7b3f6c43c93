"""The Pulumi stack's outputs: one place that names them and computes their values.

`iac plan --base live` reads `release` back from a stack, and tests check these values
directly (Pulumi's mocks do not expose the root stack's exports). No Pulumi import, so
reading the names costs nothing.
"""

from __future__ import annotations

import os
from typing import Any

from iac.compile.release import Release
from iac.spec.resolved import ResolvedStack

RELEASE = "release"
"""`Release.to_dict()`: who serves what, with which autoscaling (JSON-able)."""
ENDPOINTS = "endpoints"
"""`{model: {environment: URL}}`: the stable endpoint of every environment (a chain's, under
the chain's name)."""
SOURCES = "sources"
"""`{"stack": PATH, "files": {PATH: TEXT}}`: the stack files as applied (paths relative to
their common folder), from which `iac plan --base live` and `iac up` rebuild what is live."""
ROLLOUT = "rollout"
"""Where a staged rollout stands: `{"head": DIGEST, "stage": N, "stages": COUNT, "status":
"rolling"|"done"|"rolled-back"}` (`iac.rollout.executor.Progress`), written by `iac up` at
every stage and by the program when it stages a rolling promotion (`iac.program.staging`),
which adds READY_AT; either can take over a rollout the other started."""
READY_AT = "ready_at"
"""In ROLLOUT, written by the program: when the stage it applied was ready (ISO 8601, UTC),
from which the stage's stabilization is counted."""
OUTPUTS: tuple[str, ...] = (RELEASE, ENDPOINTS)
"""Every output computed from the release alone, by name (the program also exports
SOURCES, and ROLLOUT when the stack declares a rolling promotion)."""


def stack_outputs(release: Release) -> dict[str, Any]:
    """The value of each output in OUTPUTS."""
    return {RELEASE: release.to_dict(), ENDPOINTS: endpoints(release)}


def endpoints(release: Release) -> dict[str, dict[str, str]]:
    """The URL of every environment (`https://<model>.<domain>/environments/<env>/` by
    default, `iac.spec.endpoints`); without a host, the path alone (the Gateway's address is
    not known to the stack)."""
    return {
        model.answers_as: {  # a chain under its own name, its entrypoint's URLs (docs/chains.md)
            env: model.endpoints.environment_url(env) for env in sorted(model.environments)
        }
        for _, model in sorted(release.models.items())
        if model.routed
    }


def stack_sources(stack: ResolvedStack) -> dict[str, Any]:
    """The SOURCES output: the stack file and everything it imports, as text. Stack files
    hold no secret values (they name Secrets), so the text can be kept in plain state."""
    files = [os.path.abspath(f) for f in stack.files]
    root = os.path.commonpath([os.path.dirname(f) for f in files])
    return {
        "stack": os.path.relpath(os.path.abspath(stack.file), root),
        "files": {os.path.relpath(f, root): _read(f) for f in files},
    }


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read()
