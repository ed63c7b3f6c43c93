"""Findings about who may call each endpoint: public ones, and changes of accepted keys.

- `public-endpoint`: each environment endpoint served without an API key, and per model
  its `/deployments/<name>/` paths when they are, at the level of
  `policies.public_endpoints` (a warning by default; waivable with a reason).
- `api-keys`: endpoints whose accepted key sets or their Secrets change (a rotation: a
  second Secret added to a set, the first removed later), one note per model and change,
  naming every endpoint it touches. Only the Gateway's policy
  changes; the note says no model pod restarts, which the plan's events and object changes
  show too (no Deployment changes).
"""

from __future__ import annotations

from dataclasses import replace

from iac.compile import Compiled
from iac.compile.release import ModelRelease
from iac.compile.serving.routes import RoutedEndpoint, model_endpoints
from iac.diagnostics import Severity
from iac.diff.findings import Finding
from iac.spec.auth import Access
from iac.spec.policies import Policies

PUBLIC_ENDPOINTS = "public-endpoints"


def access_findings(base: Compiled | None, head: Compiled, policies: Policies) -> list[Finding]:
    found = _public_findings(head, policies)
    if base is not None:
        for name, model in head.release.models.items():
            before = base.release.models.get(name)
            if before is not None:
                found.extend(_changes(before, model))
    return found


def _public_findings(head: Compiled, policies: Policies) -> list[Finding]:
    rule = policies.public_endpoints
    if not rule.enabled:
        return []
    level = Severity(rule.level)
    found = []
    for model in head.release.models.values():
        endpoints = [e for e in model_endpoints(model) if e.access.public]
        for endpoint in endpoints:
            env = _environment(endpoint)
            if env is None:
                continue
            url = model.endpoints.environment_url(env)
            found.append(
                Finding(
                    "public-endpoint",
                    level,
                    f"{url} answers without an API key (public): anyone who reaches the "
                    "Gateway can call it",
                    model.name,
                    environment=env,
                )
            )
        paths = [e.prefix + "/" for e in endpoints if _environment(e) is None]
        if paths:
            found.append(
                Finding(
                    "public-endpoint",
                    level,
                    f"{_deployment_urls(model, paths)} answer{'s' if len(paths) == 1 else ''} "
                    "without an API key (public): anyone who reaches the Gateway can call "
                    f"{'it' if len(paths) == 1 else 'them'}",
                    model.name,
                )
            )
    return [_waived(f, policies) for f in found]


def _deployment_urls(model: ModelRelease, paths: list[str]) -> str:
    host = model.endpoints.host
    shown = [f"https://{host}{p}" if host else p for p in paths]
    return ", ".join(shown)


def _environment(endpoint: RoutedEndpoint) -> str | None:
    kind, _, name = endpoint.rule.partition("-")
    return name if kind == "environment" else None


def _changes(before: ModelRelease, after: ModelRelease) -> list[Finding]:
    """One finding per change of access in the model: the endpoints that change the same
    way (a rotation usually touches every endpoint of a key set) are named together."""
    old = {e.rule: e for e in model_endpoints(before)}
    groups: dict[tuple[Access, Access], list[RoutedEndpoint]] = {}
    for endpoint in model_endpoints(after):
        was = old.get(endpoint.rule)
        if was is None or was.access == endpoint.access:
            continue
        if endpoint.access.public:
            continue  # said by its public-endpoint finding
        groups.setdefault((was.access, endpoint.access), []).append(endpoint)
    found = []
    for (was_access, access), endpoints in groups.items():
        added = sorted(set(access.secrets) - set(was_access.secrets))
        removed = sorted(set(was_access.secrets) - set(access.secrets))
        secrets = "; ".join(
            part
            for part in (
                f"Secrets added: {', '.join(added)}" if added else "",
                f"Secrets no longer accepted: {', '.join(removed)}" if removed else "",
            )
            if part
        )
        urls = ", ".join(after.endpoints.url(e.prefix) for e in endpoints)
        only = endpoints[0] if len(endpoints) == 1 else None
        env = _environment(only) if only is not None else None
        found.append(
            Finding(
                "api-keys",
                Severity.INFO,
                f"{urls} accept{'s' if only is not None else ''} {access.describe()} (was "
                f"{was_access.describe()}){': ' + secrets if secrets else ''}; only the "
                "Gateway's SecurityPolicy changes, no model pod restarts",
                after.name,
                environment=env,
                deployment=(
                    only.rule.partition("-")[2] if only is not None and env is None else None
                ),
            )
        )
    return found


def _waived(finding: Finding, policies: Policies) -> Finding:
    for waiver in policies.waivers:
        if waiver.rule == PUBLIC_ENDPOINTS and all(
            getattr(waiver, key) is None or getattr(waiver, key) == getattr(finding, key)
            for key in ("model", "environment")
        ):
            return replace(
                finding, level=Severity.INFO, message=f"waived ({waiver.reason}): {finding.message}"
            )
    return finding
