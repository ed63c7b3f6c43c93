"""Autoscaling: a KEDA ScaledObject per deployment, and an InterceptorRoute when the KEDA
HTTP add-on holds requests for it (design §4, reference/k8s-serving.md §1-2).

Baseten's settings map as follows:
- per-replica target = concurrency_target × target_utilization / 100 in-flight requests;
- scale-up is immediate (no stabilization, up to max replicas in one step);
- scale_down_delay → the HPA's scale-down stabilization window and KEDA's cooldownPeriod
  (which only governs the last step, 1 → 0);
- max_scale_down_rate → a Percent policy of the HPA per scale_down_delay period;
- initialCooldownPeriod = the startup budget, so KEDA never removes a replica still loading.
"""

from __future__ import annotations

import functools
import math
from typing import Any

from iac.compile.release import DeploymentRelease, object_metadata
from iac.compile.release.chains import BACKEND_HEADER
from iac.diagnostics import Diagnostics
from iac.spec.resolved import Origins
from iac.spec.stack import Cluster

HPA_MAX_PERIOD = 1800
"""The HPA rejects scaling policies with periodSeconds above 30 minutes."""
HPA_SYNC_PERIOD = 15
"""kube-controller-manager's default HPA sync period: the finest a policy period can act."""
PAUSED_REPLICAS = "autoscaling.keda.sh/paused-replicas"
COLD_NODE_SECONDS = 600
"""Budget for a GPU node to be provisioned and the image pulled, before the server starts."""


def interceptor_header(release: DeploymentRelease) -> tuple[str, str]:
    """The header (and its value) the Gateway sets for a deployment behind the interceptor."""
    return (BACKEND_HEADER, release.object_name)


def scaling_diagnostics(
    release: DeploymentRelease, origins: Origins, diagnostics: Diagnostics
) -> None:
    """The warnings `scaled_object` gives for `release`, located by `origins`. On its own so
    that a compile reusing another compile's objects (`compile_release(reuse=...)`) still
    reports them where this stack's file says."""
    scaling = release.autoscaling
    delay = scaling.scale_down_delay
    if delay > HPA_MAX_PERIOD and release.active:
        diagnostics.warning(
            origins(("autoscaling", "scale_down_delay")),
            f"scale_down_delay {delay}s: each scale-down step of at most "
            f"{scaling.max_scale_down_rate} % is allowed every {HPA_MAX_PERIOD}s, the longest "
            "period the HPA accepts (the stabilization window keeps the full delay)",
            origins.path(("autoscaling", "scale_down_delay")),
        )


def scaled_object(
    release: DeploymentRelease, cluster: Cluster, origins: Origins, diagnostics: Diagnostics
) -> dict[str, Any]:
    scaling_diagnostics(release, origins, diagnostics)
    scaling = release.autoscaling
    delay = scaling.scale_down_delay
    annotations: dict[str, str] = {}
    if not release.active:
        annotations[PAUSED_REPLICAS] = "0"  # deactivated: objects kept, no pods

    if release.via_interceptor:
        trigger: dict[str, Any] = {
            "type": "external-push",
            "metadata": {
                "scalerAddress": cluster.scale_from_zero.scaler_address,
                "interceptorRoute": release.object_name,
            },
        }
    else:
        trigger = {
            "type": "prometheus",
            "metricType": "AverageValue",
            "metadata": {
                "serverAddress": cluster.prometheus,
                "query": in_flight_query(release, cluster.namespace),
                "threshold": _number(scaling.target_per_replica),
            },
        }
    metadata = object_metadata(release, cluster)
    if annotations:
        metadata["annotations"] = annotations
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": metadata,
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": release.object_name,
            },
            "pollingInterval": HPA_SYNC_PERIOD,
            "cooldownPeriod": delay,
            "initialCooldownPeriod": release.health.startup_timeout,
            "minReplicaCount": scaling.min_replicas,
            "maxReplicaCount": scaling.max_replicas,
            "advanced": _advanced(scaling.max_replicas, delay, scaling.max_scale_down_rate),
            "triggers": [trigger, *_schedule_triggers(release)],
        },
    }


# Shared by every ScaledObject with the same bounds, as `iac.compile.serving.workload` shares the
# common parts of Deployments (compiled objects are read-only): a handful of distinct values.
@functools.lru_cache(maxsize=256)
def _advanced(max_replicas: int, delay: int, max_scale_down_rate: int) -> dict[str, Any]:
    """The HPA's behavior: scale up at once, down by a share per period (module docstring)."""
    period = min(max(delay, HPA_SYNC_PERIOD), HPA_MAX_PERIOD)
    return {
        "horizontalPodAutoscalerConfig": {
            "behavior": {
                "scaleUp": {
                    "stabilizationWindowSeconds": 0,
                    "selectPolicy": "Max",
                    "policies": [
                        {
                            "type": "Pods",
                            "value": max_replicas,
                            "periodSeconds": HPA_SYNC_PERIOD,
                        }
                    ],
                },
                "scaleDown": {
                    "stabilizationWindowSeconds": delay,
                    "selectPolicy": "Max",
                    "policies": [
                        {
                            "type": "Percent",
                            "value": max_scale_down_rate,
                            "periodSeconds": period,
                        }
                    ],
                },
            }
        }
    }


def _schedule_triggers(release: DeploymentRelease) -> list[dict[str, Any]]:
    """Each schedule as a KEDA cron trigger: a floor of replicas between start and end (the
    HPA takes the highest of its metrics, so a schedule never lowers the count)."""
    return [
        {
            "type": "cron",
            "metadata": {
                "timezone": schedule.timezone,
                "start": schedule.start,
                "end": schedule.end,
                "desiredReplicas": str(
                    min(schedule.min_replicas, release.autoscaling.max_replicas)
                ),
            },
        }
        for schedule in release.autoscaling.schedules or []
    ]


def interceptor_route(
    release: DeploymentRelease, cluster: Cluster, host: str | None
) -> dict[str, Any]:
    """Routing and concurrency counting in the HTTP add-on for a deployment behind it. The
    interceptor matches the request's host (the model's, `host`; any without one) and the
    header its route sets."""
    header, value = interceptor_header(release)
    # The interceptor's concurrency target is a whole number of requests.
    target = max(1, math.floor(release.autoscaling.target_per_replica))
    return {
        "apiVersion": "http.keda.sh/v1beta1",
        "kind": "InterceptorRoute",
        "metadata": object_metadata(release, cluster),
        "spec": {
            "target": {"service": release.object_name, "port": release.port},
            "rules": [
                {
                    "hosts": _hosts(host or "*"),
                    "headers": [{"name": header, "value": value}],
                }
            ],
            "scalingMetric": _scaling_metric(target),
            "timeouts": _interceptor_timeouts(release.health.startup_timeout),
        },
    }


# Shared like `_advanced`: one per distinct value.
@functools.lru_cache(maxsize=256)
def _hosts(host: str) -> list[str]:
    return [host]


@functools.lru_cache(maxsize=256)
def _scaling_metric(target: int) -> dict[str, Any]:
    return {"concurrency": {"targetValue": target}}


@functools.lru_cache(maxsize=256)
def _interceptor_timeouts(startup_timeout: int) -> dict[str, Any]:
    # Hold a request through a whole cold start: a node, the image, the weights.
    return {"readiness": f"{startup_timeout + COLD_NODE_SECONDS}s"}


def in_flight_query(release: DeploymentRelease, namespace: str) -> str:
    """PromQL: the deployment's in-flight requests, averaged over the autoscaling window."""
    window = release.autoscaling.autoscaling_window
    pods = f'namespace="{namespace}",pod=~"{release.object_name}-[a-z0-9]+-[a-z0-9]+"'
    # `or vector(0)`: a metric with no series yet counts as no load, not as an error.
    terms = [
        f"(sum(avg_over_time({m}{{{pods}}}[{window}s])) or vector(0))" for m in release.in_flight
    ]
    return " + ".join(terms)


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:g}"
