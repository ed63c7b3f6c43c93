"""Every endpoint asks for an API key, or the stack says it is public on purpose.

An endpoint nobody declared auth for would be open to anyone who reaches the Gateway (a GPU
model answering unauthenticated requests at dollars a minute), so saying nothing is an
error, located where the declaration belongs, with the lines to add: a stack with models and
no `auth:` (unless each model has its own), or a stack `auth:` naming only key sets. Also
errors: a key set named but not declared, one declared with no Secret, `api_keys` beside
`public: true`, and keys asked of a Gateway iac cannot configure
(`cluster.gateway.implementation: other`), which would leave the endpoint open while the
stack says it is not. Endpoints declared public are reported by `iac plan`
(`iac.diff.access`, policy `public_endpoints`).
"""

from __future__ import annotations

from iac.diagnostics import Diagnostics, KeyPath, did_you_mean
from iac.spec.auth import Auth, StackAuth
from iac.spec.resolved import ResolvedStack
from iac.spec.stack import Chain, Model

_EXAMPLE = (
    "`auth: {{key_sets: {{clients: [model-api-keys]}}, api_keys: [clients]}}` (a Secret "
    "`model-api-keys` in namespace {namespace} holding one key per client), or "
    "`auth: {{public: true}}` to serve without a key on purpose"
)


def check_auth(stack: ResolvedStack, diagnostics: Diagnostics) -> None:
    spec = stack.spec
    cluster = getattr(spec, "cluster", None)  # absent when the top level is invalid
    if cluster is None:
        return
    stack_auth: StackAuth | None = getattr(spec, "auth", None)
    declared = stack_auth.key_sets if stack_auth is not None else {}
    for name, secrets in declared.items():
        if not secrets:
            where: KeyPath = ("auth", "key_sets", name)
            diagnostics.error(
                stack.source.value(where),
                f"key set '{name}' names no Secret: list the Kubernetes Secrets holding its "
                f"keys (`{name}: [{name}-keys]`), or remove it",
                where,
            )
    levels: list[tuple[KeyPath, Auth | None]] = [(("auth",), stack_auth)]
    owners = [*stack.written_models().items(), *getattr(spec, "chains", {}).items()]
    for owner_name, owner in owners:
        section = "chains" if isinstance(owner, Chain) else "models"
        levels.append(((section, owner_name, "auth"), owner.auth))
        for env_name, env in owner.environments.items():
            levels.append(((section, owner_name, "environments", env_name, "auth"), env.auth))
    for path, auth in levels:
        if auth is not None:
            _check_level(stack, path, auth, declared, diagnostics)
    if stack_auth is None:
        _check_silent(stack, diagnostics)
    else:
        _check_uncovered(stack, stack_auth, diagnostics)
    _check_implementation(stack, levels, diagnostics)


def _check_silent(stack: ResolvedStack, diagnostics: Diagnostics) -> None:
    """A stack with no `auth:` whose models (some or all) say nothing either: an error at
    `models:`, since the fix is one top-level line (or an `auth:` on each model)."""
    spec = stack.spec
    models = stack.written_models()
    chains = getattr(spec, "chains", {})
    uncovered = [name for name, model in models.items() if not _says(model.auth)]
    uncovered_chains = [name for name, chain in chains.items() if not _says(chain.auth)]
    if not uncovered and not uncovered_chains:
        return
    plural = len(uncovered) + len(uncovered_chains) > 1
    noun = "chain" if not uncovered else "model" if not uncovered_chains else "model and chain"
    on_each = (
        f", or an `auth:` on {f'each of these {noun}s' if plural else f'this {noun}'}"
        if len(uncovered) + len(uncovered_chains) < len(models) + len(chains)
        else ""
    )
    named = [
        f"{what}{'s' if len(names) > 1 else ''} {', '.join(names)}"
        for what, names in (("model", uncovered), ("chain", uncovered_chains))
        if names
    ]
    section = "models" if uncovered else "chains"
    diagnostics.error(
        stack.source.key((section,)),
        "nothing says who may call the endpoints of "
        f"{' and '.join(named)} (no `auth:`): an endpoint "
        "asks for an API key unless the stack says it is public. Add at the top level "
        + _EXAMPLE.format(namespace=spec.cluster.namespace)
        + on_each,
        ("auth",),
    )


def _says(auth: Auth | None) -> bool:
    """Whether `auth` says who may call (a model's or an environment's may leave it to
    the level above)."""
    return auth is not None and (auth.public or auth.api_keys is not None)


def _check_level(
    stack: ResolvedStack,
    path: KeyPath,
    auth: Auth,
    declared: dict[str, list[str]],
    diagnostics: Diagnostics,
) -> None:
    if auth.public and auth.api_keys is not None:
        where = (*path, "public")
        diagnostics.error(
            stack.source.key(where),
            "`public: true` serves without a key, `api_keys` asks for one: keep one of them",
            where,
        )
    if auth.api_keys is not None and not auth.api_keys:
        where = (*path, "api_keys")
        diagnostics.error(
            stack.source.value(where),
            "`api_keys: []` accepts no key, so nobody could call these endpoints: name a key "
            "set, or say `public: true`",
            where,
        )
    for index, name in enumerate(auth.api_keys or ()):
        if name in declared:
            continue
        where = (*path, "api_keys", index)
        known = ", ".join(sorted(declared)) or "none"
        diagnostics.error(
            stack.source.value(where),
            f"key set '{name}' is not declared in the stack's `auth.key_sets` (declared: "
            f"{known}){did_you_mean(name, declared)}",
            where,
        )


def _check_uncovered(stack: ResolvedStack, stack_auth: StackAuth, diagnostics: Diagnostics) -> None:
    """A stack-level `auth:` that names no default (only `key_sets`): each model says who
    may call it."""
    if _says(stack_auth):
        return
    owners: list[tuple[str, Model | Chain]] = [
        *stack.written_models().items(),
        *stack.spec.chains.items(),
    ]
    for owner_name, owner in owners:
        if _says(owner.auth):
            continue
        what = "chain" if isinstance(owner, Chain) else "model"
        path: KeyPath = (f"{what}s", owner_name)
        diagnostics.error(
            stack.source.key(path),
            f"nothing says who may call {what} '{owner_name}': the stack's `auth:` names no "
            "`api_keys` and is not public; set `auth: {api_keys: [SET, ...]}` (or `auth: "
            f"{{public: true}}`, to serve without a key on purpose) on this {what}, or "
            "`api_keys` in the stack's `auth:` for every model",
            (*path, "auth"),
        )


def _check_implementation(
    stack: ResolvedStack, levels: list[tuple[KeyPath, Auth | None]], diagnostics: Diagnostics
) -> None:
    """Keys asked of a Gateway iac cannot configure: refused where they are asked."""
    gateway = stack.spec.cluster.gateway
    if gateway.implementation == "envoy-gateway":
        return
    implementation = ("cluster", "gateway", "implementation")
    line = stack.source.value(implementation)
    for path, auth in levels:
        if auth is None or not auth.api_keys:
            continue
        where = (*path, "api_keys")
        diagnostics.error(
            stack.source.key(where),
            f"API keys are asked here, but `cluster.gateway.implementation: "
            f"{gateway.implementation}` ({line.line}:{line.column}) is a Gateway iac cannot "
            "configure: the endpoints would stay open. Run Envoy Gateway and set "
            "`implementation: envoy-gateway`, or check keys in your gateway yourself and "
            "declare `auth: {public: true}` here (iac plan then lists these endpoints as "
            "public)",
            where,
        )
