"""The Grafana dashboard of a chain (docs/chains.md): a row per chainlet with the panels its
model's dashboard would have, the entrypoint's first, then the chainlets in the order the
calls reach them; promotions and rollouts of any chainlet marked on every panel.

A chain has this dashboard instead of one per chainlet: the rows hold every panel the
chainlets' own dashboards would, a chain is deployed and promoted as one (one mark per
promotion across its rows), and following a request from the entrypoint to the LLM it calls
is reading one page down. The chainlets' PrometheusRules (recorded series, alerts) stay per
model, so the rows read the same series a model's dashboard does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from iac.compile import labels
from iac.compile.monitoring import dashboards
from iac.compile.monitoring.dashboards import Row
from iac.compile.monitoring.model_dashboard import (
    dashboard_annotations,
    dashboard_shape,
    model_panels,
)
from iac.compile.monitoring.object_labels import COMPONENT
from iac.compile.names import object_name
from iac.compile.release import ModelRelease, Release


def chain_dashboard_name(chain: str) -> str:
    """The name of a chain's dashboard ConfigMap: `iac-chain-<chain>-dashboard` (beside its
    NetworkPolicy `iac-chain-<chain>`)."""
    return object_name("iac-chain", chain, "dashboard")


def chain_dashboard_uid(cluster: str, chain: str) -> str:
    """Stable, unique per cluster and chain, at most 40 characters."""
    return object_name("iac", cluster, "chain", chain, limit=dashboards.MAX_UID)


def chainlets_shown(release: Release) -> dict[str, list[ModelRelease]]:
    """Each chain with a chainlet that has an active deployment (sorted by name): its
    chainlets' models, the entrypoint first, then as the calls reach them (breadth first, in
    each chainlet's order of `calls`), then any other by name."""
    members: dict[str, dict[str, ModelRelease]] = {}
    for model in release.models.values():
        if model.chain is not None:
            members.setdefault(model.chain.chain, {})[model.chain.chainlet] = model
    found: dict[str, list[ModelRelease]] = {}
    for chain, chainlets in sorted(members.items()):
        if not any(d.active for m in chainlets.values() for d in m.deployments.values()):
            continue
        found[chain] = _call_order(chainlets)
    return found


def _call_order(chainlets: Mapping[str, ModelRelease]) -> list[ModelRelease]:
    entrypoints = sorted(n for n, m in chainlets.items() if m.chain and m.chain.entrypoint)
    order: list[str] = []
    queue = list(entrypoints)
    while queue:
        name = queue.pop(0)
        if name in order or name not in chainlets:
            continue
        order.append(name)
        member = chainlets[name].chain
        queue += list(member.calls) if member is not None else []
    order += sorted(set(chainlets) - set(order))
    return [chainlets[n] for n in order]


def chain_dashboard_config_map(
    chain: str, chainlets: Sequence[ModelRelease], cluster: str, namespace: str
) -> dict[str, Any]:
    """The dashboard in a ConfigMap for the Grafana sidecar, labelled with its chain (no
    model: it belongs to the chain, as the chain's NetworkPolicy does)."""
    return dashboards.config_map(
        chain_dashboard_name(chain),
        namespace,
        {
            labels.MANAGED_BY: "iac",
            labels.CHAIN: chain,
            "app.kubernetes.io/component": COMPONENT,
        },
        f"chain-{chain}.json",
        dashboards.render(chain_dashboard(chain, chainlets, cluster, namespace)),
    )


def chain_dashboard(
    chain: str, chainlets: Sequence[ModelRelease], cluster: str, namespace: str
) -> dict[str, Any]:
    rows = []
    environments: set[str] = set()
    workloads: list[str] = []
    for model in chainlets:
        shape = dashboard_shape(model, cluster, namespace)
        environments.update(shape.environments)
        active = [model.deployments[n] for n in sorted(model.deployments)]
        workloads += [d.object_name for d in active if d.active]
        rows.append(Row(_row_title(model), tuple(model_panels(shape, model.name))))
    names = "|".join(sorted(m.name for m in chainlets))
    return dashboards.dashboard(
        uid=chain_dashboard_uid(cluster, chain),
        title=f"Chain {chain} ({cluster})",
        description=(
            f"Chain {chain} in namespace {namespace}, compiled by iac: a row per chainlet "
            "(the model it runs as), from the entrypoint along its calls."
        ),
        tags=("iac", "chain", chain),
        environments=sorted(environments),
        panels=rows,
        annotations=dashboard_annotations(namespace, f'model=~"{names}"', workloads),
    )


def _row_title(model: ModelRelease) -> str:
    """`router (model rag-router): the entrypoint, calls embedder, llm`."""
    member = model.chain
    assert member is not None, "a chain's dashboard shows chainlets only"
    what = ["the entrypoint"] if member.entrypoint else []
    if member.calls:
        what.append("calls " + ", ".join(member.calls))
    return f"{member.chainlet} (model {model.name})" + (": " + ", ".join(what) if what else "")


def chain_dashboards(release: Release) -> list[dict[str, Any]]:
    """A dashboard ConfigMap per chain with an active chainlet."""
    cluster = release.cluster
    return [
        chain_dashboard_config_map(chain, chainlets, cluster.name, cluster.namespace)
        for chain, chainlets in chainlets_shown(release).items()
    ]
