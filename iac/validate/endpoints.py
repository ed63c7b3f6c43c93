"""No two models answer on the same host and path.

Gateway API gives a host and path that two HTTPRoutes claim to one of them only, and no
condition says so: sent through a real gateway, one model answered another's requests with
HTTP 200 (reference/data-plane.md). Each model's endpoints are on its own host or below its
own prefix (`iac.spec.endpoints`), so only a `hostname` a model sets can collide: with
another model's host, or with another `hostname`.
"""

from __future__ import annotations

from iac.diagnostics import Diagnostics, KeyPath
from iac.spec.endpoints import ModelEndpoints, endpoint_style, model_endpoints
from iac.spec.resolved import ResolvedStack

_MAX_HOST = 253


def check_endpoints(stack: ResolvedStack, diagnostics: Diagnostics) -> None:
    # A stack file with errors elsewhere may lack its sections (the loader goes on).
    cluster = getattr(stack.spec, "cluster", None)
    if cluster is None:
        return
    if cluster.endpoints == "host" and not cluster.domain:
        hostless = [name for name, m in stack.spec.models.items() if m.hostname is None]
        if hostless:
            where: KeyPath = ("cluster", "endpoints")
            diagnostics.error(
                stack.source.value(where),
                "`endpoints: host` puts each model on `<model>.<domain>`, but the cluster has "
                f"no `domain` (models without a `hostname`: {', '.join(hostless)}); set "
                "`cluster.domain`, or `endpoints: path`",
                where,
            )
            return
    # (host, path) → (model, what answers there), in the stack file's order.
    claimed: dict[tuple[str, str], tuple[str, str]] = {}
    for name, model in stack.models.items():
        if model.chain is not None and not model.chain.entrypoint:
            continue  # called inside the cluster only: no endpoint
        hostname = stack.spec.models[name].hostname
        endpoints = model_endpoints(cluster, model.answers_as, hostname)
        if not _host_fits(stack, name, endpoints, diagnostics):
            continue
        paths = [
            (endpoints.environment_path(e), f"its {e} environment") for e in model.environments
        ]
        paths += [(endpoints.deployment_path(d), f"its deployment {d}") for d in model.deployments]
        reported: set[str] = set()
        for path, what in paths:
            key = (endpoints.host or "*", path)
            owner = claimed.setdefault(key, (name, what))
            if owner[0] == name or owner[0] in reported:
                continue
            reported.add(owner[0])
            # Point at the `hostname` that causes the collision: this model's, else the other's.
            here, there = (name, what), owner
            if hostname is None and stack.spec.models[owner[0]].hostname is not None:
                here, there = owner, (name, what)
            _collision(stack, here, there, endpoints.url(path), diagnostics)


def _collision(
    stack: ResolvedStack,
    here: tuple[str, str],
    there: tuple[str, str],
    url: str,
    diagnostics: Diagnostics,
) -> None:
    """`here` (model, what answers) claims `url`, which `there` claims too."""
    name = here[0]
    hostname = stack.spec.models[name].hostname
    own = model_endpoints(stack.spec.cluster, name, None)
    if hostname is not None:
        where: KeyPath = ("models", name, "hostname")
        location = stack.source.value(where)
        fix = f"give '{name}' another hostname"
        if own.host or endpoint_style(stack.spec.cluster) == "path":
            fix += f", or remove it to answer on {own.url(own.prefix)}"
    else:
        where = ("models", name)
        location = stack.source.key(where)
        fix = f"rename '{name}' or '{there[0]}'"
    diagnostics.error(
        location,
        f"model '{name}' would answer on {url} ({here[1]}), as model '{there[0]}' does "
        f"({there[1]}): a gateway sends such requests to one of them only; {fix}",
        where,
    )


def _host_fits(
    stack: ResolvedStack, name: str, endpoints: ModelEndpoints, diagnostics: Diagnostics
) -> bool:
    """A derived host `<model>.<domain>` is a DNS name of at most 253 characters."""
    host = endpoints.host
    if host is None or len(host) <= _MAX_HOST:
        return True
    where: KeyPath = ("models", name)
    style = endpoint_style(stack.spec.cluster)
    diagnostics.error(
        stack.source.key(where),
        f"the host of model '{name}', '{host}', is longer than the {_MAX_HOST} characters a "
        f"DNS name may have (`endpoints: {style}`); shorten the model's name or the domain, "
        "or set a `hostname`",
        where,
    )
    return False
