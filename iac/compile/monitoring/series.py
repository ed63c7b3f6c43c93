"""The series the recording rules write: their names (rollout gates and dashboards use them
by these names) and the labels they keep."""

from __future__ import annotations

from iac.compile.release import DeploymentRelease

# Every one carries `namespace`, `model`, `deployment` and (while the deployment serves one)
# `environment`.

INFLIGHT = "iac:inflight_requests:sum"
"""Requests the pods hold now: the sum of the container's `metrics.in_flight` metrics, the
ones KEDA scales on."""
INFLIGHT_AUTOSCALER = "iac:inflight_requests:avg_over_time"
"""Exactly the value KEDA's Prometheus trigger reads for a deployment: the in-flight requests
averaged over its `autoscaling_window` (`iac.compile.serving.scaling.in_flight_query`). A deployment
behind the scale-from-zero interceptor is scaled on the interceptor's count instead; this
series still shows its server's view."""
INFLIGHT_TARGET = "iac:inflight_requests_per_replica:target"
"""The deployment's per-replica target (concurrency_target × target_utilization / 100): the
autoscaler wants ⌈INFLIGHT_AUTOSCALER / INFLIGHT_TARGET⌉ replicas, within min and max."""
REQUESTS = "iac:requests:rate5m"
"""Requests finished per second."""
ERROR_RATIO = "iac:request_errors:ratio_rate5m"
"""Share of requests failed by the server (0-1)."""
LATENCY = "iac:request_latency_seconds:histogram_quantile"
"""Request latency, end to end in the server, with a `quantile` label (0.5, 0.95, 0.99)."""
TTFT = "iac:time_to_first_token_seconds:histogram_quantile"
"""LLM servers: time to first token, with a `quantile` label."""
TPOT = "iac:time_per_output_token_seconds:histogram_quantile"
"""LLM servers: time per output token after the first, with a `quantile` label."""
REPLICAS_AVAILABLE = "iac:replicas_available:sum"
"""Ready replicas of the deployment (kube-state-metrics)."""
REPLICAS_DESIRED = "iac:replicas_desired:sum"
"""Replicas the autoscaler asks for (the Deployment's spec.replicas, kube-state-metrics)."""
RECORDED: tuple[str, ...] = (
    INFLIGHT,
    INFLIGHT_AUTOSCALER,
    INFLIGHT_TARGET,
    REQUESTS,
    ERROR_RATIO,
    LATENCY,
    TTFT,
    TPOT,
    REPLICAS_AVAILABLE,
    REPLICAS_DESIRED,
)

SERIES_LABELS = ("namespace", "model", "deployment", "environment")
"""Labels the recorded series keep."""
QUANTILES = ("0.5", "0.95", "0.99")
RATE_WINDOW = "5m"


def static_labels(deployment: DeploymentRelease, namespace: str) -> dict[str, str]:
    """Series labels for rules whose input does not carry them (kube-state-metrics)."""
    static = {"namespace": namespace, "model": deployment.model, "deployment": deployment.name}
    if deployment.environment:
        static["environment"] = deployment.environment
    return static
