"""PodMonitors: which deployments Prometheus scrapes, on which port and path, how often, and
the `model`, `deployment` and `environment` labels put on every series."""

from __future__ import annotations

import functools
import re
from typing import Any

from iac.compile import labels
from iac.compile.monitoring.object_labels import deployment_labels
from iac.compile.release import DeploymentRelease
from iac.compile.serving.scaling import HPA_SYNC_PERIOD

SCRAPE_INTERVAL = HPA_SYNC_PERIOD
"""Seconds between scrapes: KEDA polls every 15 s."""
MIN_SCRAPE_INTERVAL = 5
SCRAPE_TIMEOUT = 10


def scraped(deployment: DeploymentRelease) -> bool:
    """Active and declaring `metrics:`: a PodMonitor scrapes it."""
    return deployment.active and deployment.container.metrics is not None


def metrics_port_name(deployment: DeploymentRelease) -> str:
    """The container port serving metrics, named as `iac.compile.serving.workload` names it."""
    metrics = deployment.container.metrics
    if metrics is not None and metrics.port and metrics.port != deployment.port:
        return "metrics"
    return "http"


def scrape_interval(deployment: DeploymentRelease) -> int:
    """Seconds between scrapes: at least two samples in every autoscaling window."""
    window = deployment.autoscaling.autoscaling_window
    return max(MIN_SCRAPE_INTERVAL, min(SCRAPE_INTERVAL, window // 2))


def pod_monitor(deployment: DeploymentRelease, namespace: str) -> dict[str, Any]:
    metrics = deployment.container.metrics
    path = metrics.path if metrics is not None else "/metrics"
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": {
            "name": deployment.object_name,
            "namespace": namespace,
            "labels": deployment_labels(deployment),
        },
        "spec": {
            "selector": {"matchLabels": labels.selector(deployment.model, deployment.name)},
            "namespaceSelector": _namespace_selector(namespace),
            "podMetricsEndpoints": _endpoints(
                metrics_port_name(deployment),
                path,
                scrape_interval(deployment),
                deployment.environment,
            ),
        },
    }


# What a PodMonitor scrapes and how depends on a few values that most deployments share: it
# is built once per distinct value and shared by their monitors, as `iac.compile.serving.workload`
# shares the common parts of Deployments (compiled objects are read-only).


@functools.lru_cache(maxsize=256)
def _namespace_selector(namespace: str) -> dict[str, Any]:
    return {"matchNames": [namespace]}


@functools.lru_cache(maxsize=256)
def _endpoints(
    port: str, path: str, interval: int, environment: str | None
) -> list[dict[str, Any]]:
    relabelings: list[dict[str, Any]] = [
        {
            "action": "replace",
            "sourceLabels": [_pod_label_meta(labels.MODEL)],
            "targetLabel": "model",
        },
        {
            "action": "replace",
            "sourceLabels": [_pod_label_meta(labels.DEPLOYMENT)],
            "targetLabel": "deployment",
        },
    ]
    if environment:
        # No source labels: the empty value matches the default regex, so the label is set
        # to the replacement on every target.
        relabelings.append(
            {"action": "replace", "targetLabel": "environment", "replacement": environment}
        )
    return [
        {
            "port": port,
            "path": path,
            "interval": f"{interval}s",
            "scrapeTimeout": f"{min(SCRAPE_TIMEOUT, interval)}s",
            "relabelings": relabelings,
        }
    ]


def _pod_label_meta(label: str) -> str:
    """`iac.dev/model` → `__meta_kubernetes_pod_label_iac_dev_model` (Prometheus' name)."""
    return "__meta_kubernetes_pod_label_" + re.sub(r"[^a-zA-Z0-9_]", "_", label)
