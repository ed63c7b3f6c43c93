"""Findings located in the head's stack file: `FILE:LINE:COL: KEY.PATH: message`, at the
setting a finding asks to change (`Finding.setting`), where it was written (a chainlet's in
its chain's lines, `iac.load.layers.ModelPaths`), or at the environment (or deployment)
when nothing wrote it."""

from __future__ import annotations

from dataclasses import replace

from iac.diagnostics import format_path
from iac.diff.finding import Finding
from iac.spec.resolved import Origins, ResolvedStack


def located(found: list[Finding], stack: ResolvedStack) -> list[Finding]:
    """`found`, each finding with a `setting` of a model of `stack` located."""
    return [_located(finding, stack) for finding in found]


def _located(finding: Finding, stack: ResolvedStack) -> Finding:
    origins = _origins(finding, stack) if finding.setting else None
    if origins is None:
        return finding
    where = f"{origins(finding.setting)}: {format_path(origins.path(finding.setting))}"
    return replace(finding, message=f"{where}: {finding.message}")


def _origins(finding: Finding, stack: ResolvedStack) -> Origins | None:
    model = stack.models.get(finding.model or "")
    if model is None:
        return None
    if finding.environment in model.environments:
        return model.environments[finding.environment or ""].origins
    if finding.deployment in model.deployments:
        return model.deployments[finding.deployment or ""].origins
    return None
