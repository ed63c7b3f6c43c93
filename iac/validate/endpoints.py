"""No two models answer on the same host and path.

Gateway API gives a host and path that two HTTPRoutes claim to one of them only, and no
condition says so: sent through a real gateway, one model answered another's requests with
HTTP 200 (reference/data-plane.md). Each model's endpoints are on its own host or below its
own prefix (`iac.spec.endpoints`), so only a `hostname` a model sets can collide: with
another model's host, or with another `hostname`. A chain answers as one (its entrypoint,
on `<chain>.<domain>` or the chain's `hostname`): its messages name the chain and point
at its lines (`chains.<chain>.hostname`).
"""

from __future__ import annotations

from iac.diagnostics import Diagnostics, KeyPath
from iac.spec.endpoints import ModelEndpoints, endpoint_style, model_endpoints
from iac.spec.resolved import ResolvedModel, ResolvedStack

_MAX_HOST = 253


def check_endpoints(stack: ResolvedStack, diagnostics: Diagnostics) -> None:
    # A stack file with errors elsewhere may lack its sections (the loader goes on).
    cluster = getattr(stack.spec, "cluster", None)
    if cluster is None:
        return
    if cluster.endpoints == "host" and not cluster.domain:
        hostless = [
            _described(model)
            for name, model in stack.models.items()
            if (model.chain is None or model.chain.entrypoint)
            and stack.spec.models[name].hostname is None
        ]
        if hostless:
            where: KeyPath = ("cluster", "endpoints")
            diagnostics.error(
                stack.source.value(where),
                "`endpoints: host` puts each model on `<model>.<domain>` (a chain on "
                "`<chain>.<domain>`), but the cluster has no `domain` (without a `hostname`: "
                f"{', '.join(hostless)}); set `cluster.domain`, or `endpoints: path`",
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
                # (a chain's model is its entrypoint's, whose `hostname` is the chain's)
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
    model, other = stack.models[here[0]], stack.models[there[0]]
    hostname = stack.spec.models[model.name].hostname
    own = model_endpoints(stack.spec.cluster, model.answers_as, None)
    if hostname is not None:
        where: KeyPath = (*_declared(model), "hostname")
        location = stack.source.value(where)
        fix = f"give {_described(model)} another hostname"
        if own.host or endpoint_style(stack.spec.cluster) == "path":
            fix += f", or remove it to answer on {own.url(own.prefix)}"
    else:
        where = _declared(model)
        location = stack.source.key(where)
        fix = f"rename {_described(model)} or {_described(other)}"
    diagnostics.error(
        location,
        f"{_described(model)} would answer on {url} ({here[1]}), as {_described(other)} "
        f"does ({there[1]}): a gateway sends such requests to one of them only; {fix}",
        where,
    )


def _declared(model: ResolvedModel) -> KeyPath:
    """Where what answers is declared: `models.<name>`, or its chain's `chains.<chain>`."""
    return ("chains", model.chain.chain) if model.chain else ("models", model.name)


def _described(model: ResolvedModel) -> str:
    """`model 'llama'`, or `chain 'rag'` (which answers as its entrypoint)."""
    return model.described


def _host_fits(
    stack: ResolvedStack, name: str, endpoints: ModelEndpoints, diagnostics: Diagnostics
) -> bool:
    """A derived host `<model>.<domain>` is a DNS name of at most 253 characters."""
    host = endpoints.host
    if host is None or len(host) <= _MAX_HOST:
        return True
    model = stack.models[name]
    where = _declared(model)
    style = endpoint_style(stack.spec.cluster)
    noun = "chain" if model.chain else "model"
    diagnostics.error(
        stack.source.key(where),
        f"the host of {_described(model)}, '{host}', is longer than the {_MAX_HOST} characters "
        f"a DNS name may have (`endpoints: {style}`); shorten the {noun}'s name or the "
        "domain, or set a `hostname`",
        where,
    )
    return False
