"""Monitoring of the release (issue #13): what Prometheus scrapes, records and alerts on, and a
Grafana dashboard per model.

- A `PodMonitor` per active deployment that declares `metrics:`. It scrapes the serving
  container's `metrics.path` on the port named `metrics` (a separate metrics port) or `http`,
  every 15 s (or half the autoscaling window, if shorter, so KEDA's average over the window
  always has samples), and puts `model`, `deployment` and `environment` on every series. The
  model and deployment come from the pod's labels; the environment is *not* on pods (a
  promotion must not restart them), so each monitor adds it as a static label: on a promotion
  the monitor changes, the pods do not.
- A `PrometheusRule` per model with at least one active deployment: recording rules (the
  names below, for dashboards and rollout gates) and alerts on the deployments that serve an
  environment.
- A Grafana dashboard per model in a ConfigMap for the Grafana sidecar
  (`iac.compile.monitoring.dashboards`), with an environment selector and promotion/rollout
  annotations; a chain's chainlets have one dashboard per chain instead, a row per chainlet
  (`iac.compile.monitoring.chain_dashboard`).

Which server metrics exist depends on the server. `SERVERS` maps the prefix of the
`metrics.in_flight` names a container declares (`vllm:`, `te_`) to the metric names of that
server; a server it does not know still gets the in-flight and replica rules, the replica and
scaling alerts and its dashboard, without request, error and latency series.

Pure and deterministic: models, deployments and rules are visited in sorted order.

    series.py           the recorded series' names (INFLIGHT, ...) and the labels they keep
    servers.py          metric names per server (vLLM, TEI); deployments grouped by metrics
    scrape.py           a PodMonitor per scraped deployment
    rules.py            a PrometheusRule per model: recording rules, plus the alerts
    alerts.py           the alerts and their thresholds (Alerting)
    model_dashboard.py  a Grafana dashboard per model: which panels, queries, annotations
    chain_dashboard.py  a Grafana dashboard per chain: a row per chainlet
    dashboards.py       Grafana's dashboard JSON (panels, variables), in ConfigMaps
    promql.py           PromQL text: selectors, `by` clauses, durations, numbers
    object_labels.py    labels on the monitoring objects themselves
"""

from __future__ import annotations

from typing import Any

from iac.compile.monitoring.alerts import ALERTING, Alerting
from iac.compile.monitoring.chain_dashboard import chain_dashboards
from iac.compile.monitoring.model_dashboard import dashboard_config_map, dashboard_uid
from iac.compile.monitoring.promql import prom_duration
from iac.compile.monitoring.rules import prometheus_rule
from iac.compile.monitoring.scrape import pod_monitor, scraped
from iac.compile.monitoring.series import (
    ERROR_RATIO,
    INFLIGHT,
    INFLIGHT_AUTOSCALER,
    INFLIGHT_TARGET,
    LATENCY,
    RECORDED,
    REPLICAS_AVAILABLE,
    REPLICAS_DESIRED,
    REQUESTS,
    TPOT,
    TTFT,
)
from iac.compile.monitoring.servers import SERVERS, ServerMetrics, server_metrics
from iac.compile.release import ModelRelease, Release
from iac.spec.stack import Cluster

__all__ = [
    "ALERTING",
    "ERROR_RATIO",
    "INFLIGHT",
    "INFLIGHT_AUTOSCALER",
    "INFLIGHT_TARGET",
    "LATENCY",
    "RECORDED",
    "REPLICAS_AVAILABLE",
    "REPLICAS_DESIRED",
    "REQUESTS",
    "SERVERS",
    "TPOT",
    "TTFT",
    "Alerting",
    "ServerMetrics",
    "chain_dashboards",
    "dashboard_uid",
    "model_monitoring",
    "monitoring_objects",
    "pod_monitor",
    "prom_duration",
    "prometheus_rule",
    "server_metrics",
]


def monitoring_objects(release: Release, alerting: Alerting = ALERTING) -> list[dict[str, Any]]:
    """PodMonitors, PrometheusRules and dashboard ConfigMaps of a release."""
    objects: list[dict[str, Any]] = []
    for model_name in sorted(release.models):
        objects.extend(model_monitoring(release.models[model_name], release.cluster, alerting))
    objects.extend(chain_dashboards(release))
    return objects


def model_monitoring(
    model: ModelRelease, cluster: Cluster, alerting: Alerting = ALERTING
) -> list[dict[str, Any]]:
    """A model's own monitoring objects (none without an active deployment): PodMonitors,
    its PrometheusRule and, unless it is a chainlet (its chain's dashboard shows it), its
    dashboard."""
    namespace = cluster.namespace
    active = [model.deployments[n] for n in sorted(model.deployments)]
    active = [d for d in active if d.active]
    if not active:
        return []
    objects = [pod_monitor(d, namespace) for d in active if scraped(d)]
    objects.append(prometheus_rule(model, namespace, alerting))
    if model.chain is None:
        objects.append(dashboard_config_map(model, cluster.name, namespace))
    return objects
