"""The Grafana dashboard of a model: which panels, queries and annotations it shows, in a
ConfigMap for the Grafana sidecar. `iac.compile.dashboards` turns them into Grafana's JSON."""

from __future__ import annotations

from typing import Any

from iac.compile import dashboards
from iac.compile.dashboards import Annotation, Panel, Target
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
from iac.compile.monitoring.servers import Histogram, metric_groups
from iac.compile.names import object_name
from iac.compile.release import ModelRelease


def dashboard_uid(cluster: str, model: str) -> str:
    """Stable, unique per cluster and model, at most 40 characters."""
    return object_name("iac", cluster, model, limit=dashboards.MAX_UID)


def dashboard_config_map(model: ModelRelease, cluster: str, namespace: str) -> dict[str, Any]:
    board = dashboard(model, cluster, namespace)
    return dashboards.config_map(
        object_name(model.name, "dashboard"),
        namespace,
        model_labels(model.name),
        f"{model.name}.json",
        board,
    )


def dashboard(model: ModelRelease, cluster: str, namespace: str) -> dict[str, Any]:
    groups = metric_groups(model)
    active = [model.deployments[n] for n in sorted(model.deployments)]
    active = [d for d in active if d.active]
    chosen = f'namespace="{namespace}",model="{model.name}",environment=~"$environment"'
    who = "{{environment}} {{deployment}}"
    panels: list[Panel] = []
    if any(g.in_flight for g in groups):
        panels.append(
            Panel(
                "In-flight requests",
                "Requests the pods hold (running and queued): the sum of the in-flight metrics "
                "the autoscaler scales on.",
                "short",
                (Target(f"sum by (environment, deployment) ({INFLIGHT}{{{chosen}}})", who),),
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
                    Target(f"{INFLIGHT_AUTOSCALER}{{{chosen}}}", f"{who} load"),
                    Target(
                        f"{INFLIGHT_TARGET}{{{chosen}}} * on (namespace, model, deployment) "
                        f"{REPLICAS_AVAILABLE}{{{chosen}}}",
                        f"{who} target x ready",
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
                Target(f"{REPLICAS_DESIRED}{{{chosen}}}", f"{who} desired"),
                Target(f"{REPLICAS_AVAILABLE}{{{chosen}}}", f"{who} ready"),
            ),
        )
    )
    servers = [g.server for g in groups if g.server is not None]
    if servers:
        panels.append(
            Panel(
                "Requests per second",
                "Requests finished per second.",
                "reqps",
                (Target(f"{REQUESTS}{{{chosen}}}", who),),
            )
        )
        panels.append(
            Panel(
                "Error ratio",
                " ".join(
                    ["Share of requests the server failed."]
                    + sorted({s.note for s in servers if s.note})
                ),
                "percentunit",
                (Target(f"{ERROR_RATIO}{{{chosen}}}", who),),
            )
        )
    histograms: dict[str, Histogram] = {}
    for server in servers:
        for histogram in server.histograms:
            histograms.setdefault(histogram.series, histogram)
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
                (Target(f"{series}{{{chosen}}}", f"{who} p{{{{quantile}}}}"),),
            )
        )
    served = f'namespace="{namespace}",model="{model.name}"'
    workloads = "|".join(d.object_name for d in active)
    annotations = (
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
            f'replicaset=~"({workloads})-[a-z0-9]+"}}) unless count by (replicaset) '
            f'(kube_replicaset_created{{namespace="{namespace}",'
            f'replicaset=~"({workloads})-[a-z0-9]+"}} offset 5m)',
            "new pods: {{replicaset}}",
            ("replicaset",),
            "blue",
        ),
    )
    return dashboards.dashboard(
        uid=dashboard_uid(cluster, model.name),
        title=f"{model.name} ({cluster})",
        description=f"Model {model.name} in namespace {namespace}, compiled by iac.",
        tags=("iac", model.name),
        environments=sorted(model.environments),
        panels=panels,
        annotations=annotations,
    )
