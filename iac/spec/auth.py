"""Who may call a model's endpoints: API-key sets, or nobody asked on purpose (`public`).

Baseten serves no model without an API key (`Authorization: Api-Key <key>`, invoke keys
scoped to models; reference/baseten.md §3.2). Here a key set is a name for one or more
Kubernetes Secrets, each holding keys (one per client); the stack names the sets and their
Secrets, never a key. `auth:` at the top of the stack says which sets may call every
endpoint; a model's `auth:` replaces it for the model's endpoints, an environment's for
that environment's `/environments/<env>/` path. A model's `/deployments/<name>/` paths
(development deployments' too) take the model's setting. The Gateway enforces it
(`iac.compile.serving.auth`).
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field

from iac.spec.base import SpecModel
from iac.spec.types import Name


class Auth(SpecModel):
    """Who may call the endpoints it covers: the key sets in `api_keys`, or anyone
    (`public: true`). Exactly one of the two."""

    api_keys: list[Name] | None = None
    """Key sets (declared in the stack's `auth.key_sets`) whose keys are accepted: a request
    with a key of any of them is served, any other gets 401 from the Gateway."""
    public: bool = False
    """Serve without a key, on purpose. `iac plan` reports each public endpoint (a warning;
    `policies.public_endpoints` can make it an error)."""


class StackAuth(Auth):
    """The stack's `auth:`: its key sets, and who may call every endpoint unless a model or
    an environment says otherwise."""

    key_sets: dict[Name, list[Name]] = Field(default_factory=dict)
    """Key set → the Kubernetes Secrets (in the stack's namespace) holding its keys, one key
    per client: `kubectl create secret generic partner-keys --from-literal=acme=<key>`. To
    rotate, add a second Secret to the set, hand out its keys, then remove the first: no
    model pod restarts."""


@dataclass(frozen=True, slots=True)
class KeySet:
    name: str
    secrets: tuple[str, ...]
    """Names of the Kubernetes Secrets holding its keys, as written."""


@dataclass(frozen=True, slots=True)
class Access:
    """Who may call one endpoint: the key sets accepted there, sorted by name; none means
    public (no key asked)."""

    key_sets: tuple[KeySet, ...] = ()

    @property
    def public(self) -> bool:
        return not self.key_sets

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every Secret whose keys are accepted, sorted, each once."""
        return tuple(sorted({s for key_set in self.key_sets for s in key_set.secrets}))

    def describe(self) -> str:
        """`key sets partners (partner-keys, partner-keys-2027), staff (staff-keys)`."""
        if self.public:
            return "public (no key)"
        sets = ", ".join(f"{k.name} ({', '.join(k.secrets)})" for k in self.key_sets)
        return f"key set{'s' if len(self.key_sets) > 1 else ''} {sets}"


PUBLIC = Access()


def access(stack_auth: StackAuth | None, *levels: Auth | None) -> Access | None:
    """Who may call an endpoint: the most specific of `levels` (model, then environment)
    that says something, else the stack's. None when nothing says, or when the sets it
    names are none of them declared: never public by mistake (`iac.validate.auth` reports
    both; a set not declared is left out)."""
    chosen: Auth | None = None
    for level in (stack_auth, *levels):
        if level is not None and (level.public or level.api_keys is not None):
            chosen = level
    if chosen is None:
        return None
    if chosen.public:
        return PUBLIC
    declared = stack_auth.key_sets if stack_auth is not None else {}
    key_sets = tuple(
        KeySet(name, tuple(declared[name]))
        for name in sorted(set(chosen.api_keys or ()))
        if declared.get(name)
    )
    return Access(key_sets) if key_sets else None
