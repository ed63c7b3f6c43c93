"""The Grafana dashboard of a model: which panels, queries and annotations it shows, in a
ConfigMap for the Grafana sidecar. `iac.compile.monitoring.dashboards` turns them into
Grafana's JSON."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from iac.compile.monitoring import dashboards
from iac.compile.monitoring.dashboards import Annotation, Panel, Target
from iac.compile.monitoring.object_labels import model_labels
from iac.compile.monitoring.promql import format_number
from iac.compile.monitoring.series import (
    ERROR_RATIO,
    INFLIGHT,
    INFLIGHT_AUTOSCALER,
    INFLIGHT_TARGET,
    RATE_WINDOW,
    RECORDED,
    REPLICAS_AVAILABLE,
    REPLICAS_DESIRED,
    REQUESTS,
)
from iac.compile.monitoring.servers import Histogram, ServerMetrics, metric_groups
from iac.compile.names import object_name
from iac.compile.release import DeploymentRelease, ModelRelease


def dashboard_uid(cluster: str, model: str) -> str:
    """Stable, unique per cluster and model, at most 40 characters."""
    return object_name("iac", cluster, model, limit=dashboards.MAX_UID)


def dashboard_name(model: str) -> str:
    """The name of a model's dashboard ConfigMap: `<model>-dashboard`."""
    return object_name(model, "dashboard")


def dashboard_config_map(model: ModelRelease, cluster: str, namespace: str) -> dict[str, Any]:
    return dashboards.config_map(
        dashboard_name(model.name),
        namespace,
        model_labels(model.name),
        f"{model.name}.json",
        dashboard_text(model, cluster, namespace),
    )


def dashboard_text(model: ModelRelease, cluster: str, namespace: str) -> str:
    """The dashboard's JSON text: `render(dashboard(...))`, taken from the template of the
    model's shape when that is provably the same text."""
    templated = templated_text(model, cluster, namespace)
    if templated is not None:
        return templated
    return dashboards.render(dashboard(model, cluster, namespace))


def dashboard(model: ModelRelease, cluster: str, namespace: str) -> dict[str, Any]:
    """The dashboard, built for this model: the reference `templated_text` must equal."""
    return _board(
        dashboard_shape(model, cluster, namespace),
        model.name,
        dashboard_uid(cluster, model.name),
        [d.object_name for d in _active(model)],
    )


@dataclass(frozen=True, slots=True)
class Shape:
    """All a model's dashboard shows besides the model's name and the names made from it
    (its uid, its deployments' object names): most models of a large stack share one."""

    cluster: str
    namespace: str
    environments: tuple[str, ...]
    in_flight: bool
    """Some deployment declares in-flight metrics."""
    servers: tuple[ServerMetrics, ...]
    """The servers of its metric groups, in their order (histograms are taken first-come)."""


def dashboard_shape(model: ModelRelease, cluster: str, namespace: str) -> Shape:
    groups = metric_groups(model)
    return Shape(
        cluster=cluster,
        namespace=namespace,
        environments=tuple(sorted(model.environments)),
        in_flight=any(g.in_flight for g in groups),
        servers=tuple(g.server for g in groups if g.server is not None),
    )


def templated_text(model: ModelRelease, cluster: str, namespace: str) -> str | None:
    """The dashboard's JSON text from the template of its shape; None when that is not
    provably `render(dashboard(...))`: a name made from the model's was cut with a hash, or
    the template's stand-in name also turned up in other text."""
    active = _active(model)
    if dashboard_uid(cluster, model.name) != _uncut_uid(cluster, model.name):
        return None
    if any(d.object_name != _uncut_workload(model.name, d.name) for d in active):
        return None
    shape = dashboard_shape(model, cluster, namespace)
    template = _template(shape, tuple(d.name for d in active))
    return template.fill(model.name) if template is not None else None


# Module-level rather than per compile: each model is compiled on its own (a compile may
# reuse another's objects), so a per-compile cache would have to be passed down every call.
# A template is a function of its key alone (`_board` reads nothing else), so sharing one
# between compiles cannot change what they produce; the bound keeps a long-lived process
# from holding every shape it ever saw.
@functools.lru_cache(maxsize=256)
def _template(shape: Shape, deployments: tuple[str, ...]) -> dashboards.NameTemplate | None:
    """The template of the models of this shape whose active deployments are `deployments`
    and whose uid and deployment object names are not cut."""
    return dashboards.name_template(
        lambda name: _board(
            shape,
            name,
            _uncut_uid(shape.cluster, name),
            [_uncut_workload(name, d) for d in deployments],
        )
    )


def _uncut_uid(cluster: str, model: str) -> str:
    """`dashboard_uid` when it is short enough not to be cut."""
    return f"iac-{cluster}-{model}"


def _uncut_workload(model: str, deployment: str) -> str:
    """A deployment's object name when it is short enough not to be cut."""
    return f"{model}-{deployment}"


def _active(model: ModelRelease) -> list[DeploymentRelease]:
    deployments = [model.deployments[n] for n in sorted(model.deployments)]
    return [d for d in deployments if d.active]


def _board(shape: Shape, model: str, uid: str, workloads: Sequence[str]) -> dict[str, Any]:
    """The dashboard of a model named `model`, its active deployments' objects named
    `workloads`.

    `_template` builds it for stand-in names, so the model's name, the uid and the workload
    names must only go inside strings, never decide what is built (`name_template`)."""
    cluster, namespace = shape.cluster, shape.namespace
    return dashboards.dashboard(
        uid=uid,
        title=f"{model} ({cluster})",
        description=f"Model {model} in namespace {namespace}, compiled by iac.",
        tags=("iac", model),
        environments=shape.environments,
        panels=model_panels(shape, model),
        annotations=dashboard_annotations(namespace, f'model="{model}"', workloads),
    )


def model_panels(shape: Shape, model: str) -> list[Panel]:
    """The panels of a model's dashboard (a chain's dashboard has them in a row per
    chainlet): what the autoscaler sees and does, requests and errors, latencies."""
    chosen = f'namespace="{shape.namespace}",model="{model}",environment=~"$environment"'
    return [
        *_scaling_panels(shape, chosen),
        *_server_panels(shape, chosen),
        *_latency_panels(shape, chosen),
    ]


_WHO = "{{environment}} {{deployment}}"
"""A series' legend: the environment and the deployment it is about."""


def _scaling_panels(shape: Shape, chosen: str) -> list[Panel]:
    """What the autoscaler sees (the in-flight metrics, when the pods export them) and what
    it does (replicas)."""
    panels: list[Panel] = []
    if shape.in_flight:
        panels.append(
            Panel(
                "In-flight requests",
                "Requests the pods hold (running and queued): the sum of the in-flight metrics "
                "the autoscaler scales on.",
                "short",
                (Target(f"sum by (environment, deployment) ({INFLIGHT}{{{chosen}}})", _WHO),),
            )
        )
        panels.append(
            Panel(
                "Autoscaler: load vs capacity at target",
                "In-flight requests averaged over the autoscaling window (what KEDA reads), "
                "against the per-replica target times the ready replicas. Above the line, the "
                "autoscaler adds replicas; far below it for scale_down_delay, it removes some.",
                "short",
                (
                    Target(f"{INFLIGHT_AUTOSCALER}{{{chosen}}}", f"{_WHO} load"),
                    Target(
                        f"{INFLIGHT_TARGET}{{{chosen}}} * on (namespace, model, deployment) "
                        f"{REPLICAS_AVAILABLE}{{{chosen}}}",
                        f"{_WHO} target x ready",
                    ),
                ),
            )
        )
    panels.append(
        Panel(
            "Replicas: ready vs desired",
            "Replicas the autoscaler asks for, and those ready to serve. A gap that lasts is a "
            "cold start: a GPU node, the image, the weights.",
            "short",
            (
                Target(f"{REPLICAS_DESIRED}{{{chosen}}}", f"{_WHO} desired"),
                Target(f"{REPLICAS_AVAILABLE}{{{chosen}}}", f"{_WHO} ready"),
            ),
        )
    )
    return panels


def _server_panels(shape: Shape, chosen: str) -> list[Panel]:
    """Requests and errors, from the servers' own metrics (none for an unknown server)."""
    servers = shape.servers
    if not servers:
        return []
    return [
        Panel(
            "Requests per second",
            "Requests finished per second.",
            "reqps",
            (Target(f"{REQUESTS}{{{chosen}}}", _WHO),),
        ),
        Panel(
            "Error ratio",
            " ".join(
                ["Share of requests the server failed."]
                + sorted({s.note for s in servers if s.note})
            ),
            "percentunit",
            (Target(f"{ERROR_RATIO}{{{chosen}}}", _WHO),),
        ),
    ]


def _latency_panels(shape: Shape, chosen: str) -> list[Panel]:
    """One panel per latency histogram the servers record, in the recording rules' order."""
    histograms: dict[str, Histogram] = {}
    for server in shape.servers:
        for histogram in server.histograms:
            histograms.setdefault(histogram.series, histogram)
    panels = []
    for series in sorted(histograms, key=lambda s: RECORDED.index(s)):
        histogram = histograms[series]
        panels.append(
            Panel(
                f"{histogram.title} (p50, p95, p99)",
                f"{histogram.title} percentiles over {RATE_WINDOW}."
                + (
                    " The alert fires when the p95 stays above "
                    f"{format_number(histogram.objective)}s."
                    if histogram.objective is not None
                    else ""
                ),
                "s",
                (Target(f"{series}{{{chosen}}}", f"{_WHO} p{{{{quantile}}}}"),),
            )
        )
    return panels


def dashboard_annotations(
    namespace: str, models: str, workloads: Sequence[str]
) -> tuple[Annotation, ...]:
    """Marks on every panel where a deployment starts serving an environment, and where a
    deployment's pods are replaced (a new ReplicaSet). `models`: the label matcher of the
    models shown (`model="llm"`; a chain's `model=~"rag-llm|rag-router"`, whose chainlets
    promoted together make one mark), `workloads` their active deployments' object names."""
    served = f'namespace="{namespace}",{models}'
    chosen = f'{served},environment=~"$environment"'
    replica_sets = "|".join(workloads)
    return (
        Annotation(
            "Promotions",
            f'count by (environment, deployment) ({REPLICAS_DESIRED}{{{chosen},environment!=""}})'
            f" unless count by (environment, deployment) "
            f'({REPLICAS_DESIRED}{{{served},environment!=""}} offset 5m)',
            "{{deployment}} serves {{environment}}",
            ("environment", "deployment"),
            "green",
        ),
        Annotation(
            "Rollouts",
            f'count by (replicaset) (kube_replicaset_created{{namespace="{namespace}",'
            f'replicaset=~"({replica_sets})-[a-z0-9]+"}}) unless count by (replicaset) '
            f'(kube_replicaset_created{{namespace="{namespace}",'
            f'replicaset=~"({replica_sets})-[a-z0-9]+"}} offset 5m)',
            "new pods: {{replicaset}}",
            ("replicaset",),
            "blue",
        ),
    )
