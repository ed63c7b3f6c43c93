"""Credentials written inline: an environment value that is a token, a key or a password.

A value under `env:` is stored in plain text in git, in the rendered manifests and in
Pulumi's state, so a credential there leaks to everyone who can read any of them. It is an
error (`secret-in-env`), waivable with a reason under `policies.waivers` like a policy rule;
the fix is a Kubernetes Secret listed under `secrets:`.

A value is a credential when it has the form of a well-known token (whatever its name), or
when its name says it holds one (`HF_TOKEN`, `DB_PASSWORD`) and the value is not a path, a
reference (`$(OTHER)`) or a flag (`true`, `0`).
"""

from __future__ import annotations

import re

from iac.diagnostics import Diagnostic, Diagnostics, Severity
from iac.spec.policies import Waiver
from iac.spec.resolved import ResolvedDeployment, ResolvedStack

RULE = "secret-in-env"

_SECRET_NAME = re.compile(
    r"(?:^|_)(?:TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY|CREDENTIALS?)"
    r"(?:$|_)",
    re.IGNORECASE,
)
"""Names that say they hold a credential, as a whole word: `HF_TOKEN`, `AWS_SECRET_ACCESS_KEY`,
not `TOKENIZERS_PARALLELISM` or `MAX_NUM_BATCHED_TOKENS`."""

_TOKEN_FORMATS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a Hugging Face token", re.compile(r"\bhf_[A-Za-z0-9]{30,}")),
    ("an API key (sk-...)", re.compile(r"\bsk-[A-Za-z0-9_-]{20,}")),
    ("an AWS access key", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("a GitHub token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_\w{22,})")),
    ("a GitLab token", re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}")),
    ("a Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("a Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}")),
    ("a private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    ("a JSON web token", re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.")),
    ("a password in a URL", re.compile(r"://[^/\s:@]+:[^/\s@]+@")),
)
"""Forms of credentials recognised by their value alone, with what they are."""

_NOT_A_SECRET = re.compile(
    r"^(?:|true|false|yes|no|on|off|none|null|[0-9]|/.*|\./.*|~/.*|\$\(.*\))$", re.IGNORECASE
)
"""Values of a credential-named variable that are not the credential: empty, a flag, a
path to a file holding it, a reference to another variable."""


def credential_kind(name: str, value: str) -> str | None:
    """What `value` (of variable `name`) looks like, when it looks like a credential."""
    for kind, pattern in _TOKEN_FORMATS:
        if pattern.search(value):
            return kind
    if _SECRET_NAME.search(name) and not _NOT_A_SECRET.match(value.strip()):
        return "a credential, by its name"
    return None


def check_credentials(stack: ResolvedStack, diagnostics: Diagnostics) -> None:
    """An error at each environment value that looks like a credential, unless a waiver of
    `secret-in-env` covers its deployment (then a note saying so)."""
    policies = getattr(stack.spec, "policies", None)  # absent when the top level is invalid
    waivers = [w for w in (policies.waivers if policies else []) if w.rule == RULE]
    for model in stack.models.values():
        serves = {d: env.name for env in model.environments.values() for d in env.deployments}
        for deployment in model.deployments.values():
            waiver = _waiver(deployment, serves.get(deployment.name), waivers)
            _check_deployment(deployment, waiver, diagnostics)


def _check_deployment(
    deployment: ResolvedDeployment, waiver: Waiver | None, diagnostics: Diagnostics
) -> None:
    for name, value in (deployment.container.env or {}).items():
        kind = credential_kind(name, value)
        if kind is None:
            continue
        where = ("env", name)
        secret = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "credentials"
        message = (
            f"`{name}` holds {kind}, written here in plain text: it would be stored in git, "
            "the rendered manifests and Pulumi's state. Put it in a Kubernetes Secret "
            f"(`kubectl create secret generic {secret} --from-literal={name}=...`) and list "
            f"it under `secrets: [{secret}]` instead (or waive this with a reason in "
            f"`policies.waivers`) [{RULE}]"
        )
        severity = Severity.ERROR
        if waiver is not None:
            message = f"waived ({waiver.reason}): `{name}` holds {kind}, in plain text [{RULE}]"
            severity = Severity.INFO
        location = deployment.origins(where)
        diagnostics.add(Diagnostic(location, message, deployment.origins.path(where), severity))


def _waiver(
    deployment: ResolvedDeployment, environment: str | None, waivers: list[Waiver]
) -> Waiver | None:
    """The first waiver whose model, deployment and environment (each when given) are the
    deployment's, as policy waivers match."""
    for waiver in waivers:
        wanted = (waiver.model, waiver.deployment, waiver.environment)
        actual = (deployment.model, deployment.name, environment)
        if all(w is None or w == a for w, a in zip(wanted, actual, strict=True)):
            return waiver
    return None
