"""Alerts: on the recorded server series (errors, latency), on scraping, and from
kube-state-metrics on each deployment that serves an environment (scaling, cold starts,
crashes, rollouts)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from iac.compile.monitoring.promql import (
    format_number,
    format_percent,
    label_selector,
    prom_duration,
)
from iac.compile.monitoring.series import ERROR_RATIO, static_labels
from iac.compile.monitoring.servers import MetricGroup
from iac.compile.release import DeploymentRelease
from iac.compile.serving.scaling import COLD_NODE_SECONDS


@dataclass(frozen=True, slots=True)
class Alerting:
    """Thresholds and durations of the alerts (one set for every environment for now)."""

    error_ratio: float = 0.05
    error_for: int = 600
    latency_for: int = 900
    stuck_margin: int = 600
    """At max replicas for scale_down_delay plus this long: load has not dropped."""
    cannot_start_for: int = 600
    rollout_stalled_for: int = 300
    rollout_paused_for: int = 3600
    scrape_failing_for: int = 300


ALERTING = Alerting()


def _alert(
    name: str,
    expr: str,
    duration: int,
    labels: dict[str, str],
    summary: str,
    description: str,
) -> dict[str, Any]:
    """An alerting rule; `labels` (`_labels`) may be shared with other rules."""
    rule: dict[str, Any] = {"alert": name, "expr": expr}
    if duration:
        rule["for"] = prom_duration(duration)
    rule["labels"] = labels
    rule["annotations"] = {"summary": summary, "description": description}
    return rule


def _labels(severity: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """An alert's labels: `extra` and its severity."""
    return {**(extra or {}), "severity": severity}


# Alerts carry few distinct label sets: one dict for each, shared by the rules that carry it,
# as `iac.compile.serving.workload` shares the common parts of Deployments (compiled objects are
# read-only); a 1,000-model stack has over ten thousand alerts.
_CRITICAL = _labels("critical")
_WARNING = _labels("warning")


_WHERE = "{{ $labels.deployment }} of {{ $labels.model }} in {{ $labels.environment }}"


def group_alerts(
    group: MetricGroup, model: str, namespace: str, alerting: Alerting
) -> list[dict[str, Any]]:
    """Alerts on the recorded server series, for deployments that serve an environment."""
    server = group.server
    if server is None:
        return []
    served = (f'namespace="{namespace}"', f'model="{model}"', 'environment!=""', group.matcher)
    alerts = [
        _alert(
            "IacErrorRatioHigh",
            f"{ERROR_RATIO}{label_selector(*served)} > {format_number(alerting.error_ratio)}",
            alerting.error_for,
            _CRITICAL,
            f"{_WHERE} fails {{{{ $value | humanizePercentage }}}} of its requests",
            f"More than {format_percent(alerting.error_ratio)} of requests failed in the "
            f"server for {prom_duration(alerting.error_for)}. Check the server's logs; if it "
            "started with a promotion, promote the previous deployment back.",
        )
    ]
    for histogram in server.histograms:
        if histogram.objective is None or histogram.alert is None:
            continue
        alerts.append(
            _alert(
                histogram.alert,
                histogram.series
                + label_selector(*served, 'quantile="0.95"')
                + f" > {format_number(histogram.objective)}",
                alerting.latency_for,
                _WARNING,
                f"{histogram.title} p95 of {_WHERE} is {{{{ $value | humanizeDuration }}}}",
                f"The 95th percentile of {histogram.title.lower()} stayed above "
                f"{format_number(histogram.objective)}s for {prom_duration(alerting.latency_for)}. "
                "If replicas are at their maximum, raise max_replicas; if not, lower "
                "concurrency_target so the autoscaler adds replicas sooner.",
            )
        )
    return alerts


def scrape_alert(model: str, namespace: str, alerting: Alerting) -> dict[str, Any]:
    served = label_selector(f'namespace="{namespace}"', f'model="{model}"', 'environment!=""')
    ready = label_selector(f'namespace="{namespace}"', 'condition="true"')
    return _alert(
        "IacMetricsScrapeFailing",
        f"up{served} == 0 and on (namespace, pod) kube_pod_status_ready{ready} == 1",
        alerting.scrape_failing_for,
        _WARNING,
        f"Prometheus cannot scrape {{{{ $labels.pod }}}} ({_WHERE})",
        "A ready pod's metrics endpoint does not answer. KEDA then sees no in-flight requests "
        "from it and may scale the deployment down under load.",
    )


def deployment_alerts(
    deployment: DeploymentRelease, namespace: str, alerting: Alerting
) -> list[dict[str, Any]]:
    """Alerts from kube-state-metrics on one deployment that serves an environment."""
    warning = _labels("warning", static_labels(deployment, namespace))  # shared by its alerts
    where = f"{deployment.name} of {deployment.model} in {deployment.environment}"
    return [
        *_scaling_alerts(deployment, namespace, alerting, warning, where),
        *_pod_alerts(deployment, namespace, alerting, warning, where),
        *_rollout_alerts(deployment, namespace, alerting, warning, where),
    ]


def _scaling_alerts(
    deployment: DeploymentRelease,
    namespace: str,
    alerting: Alerting,
    warning: dict[str, str],
    where: str,
) -> list[dict[str, Any]]:
    """The deployment held at its maximum of replicas for longer than a scale-down takes."""
    scaling = deployment.autoscaling
    alerts = []
    # A dark side's maximum of one replica is the split's, not a ceiling its load outgrew.
    if scaling.max_replicas > scaling.min_replicas and not deployment.dark:
        hpa = f'namespace="{namespace}",horizontalpodautoscaler="keda-hpa-{deployment.object_name}"'
        held = scaling.scale_down_delay + alerting.stuck_margin
        alerts.append(
            _alert(
                "IacStuckAtMaxReplicas",
                f"max(kube_horizontalpodautoscaler_status_current_replicas{{{hpa}}})"
                f" >= max(kube_horizontalpodautoscaler_spec_max_replicas{{{hpa}}})",
                held,
                warning,
                f"{where} has run at its maximum of {scaling.max_replicas} replicas for "
                f"{prom_duration(held)}",
                "Load has not dropped below what max_replicas can carry for longer than the "
                f"scale-down delay ({prom_duration(scaling.scale_down_delay)}): requests queue. "
                "Raise max_replicas (and the node pool's GPUs), or check the in-flight graph.",
            )
        )
    return alerts


def _pod_alerts(
    deployment: DeploymentRelease,
    namespace: str,
    alerting: Alerting,
    warning: dict[str, str],
    where: str,
) -> list[dict[str, Any]]:
    """A replica that takes too long to get ready, or cannot start at all."""
    pods = f'namespace="{namespace}",pod=~"{deployment.object_name}-[a-z0-9]+-[a-z0-9]+"'
    alerts = []
    budget = deployment.health.startup_timeout + COLD_NODE_SECONDS
    alerts.append(
        _alert(
            "IacColdStartOverBudget",
            f'max by (namespace, pod) (kube_pod_status_phase{{{pods},phase="Pending"}}'
            f' or kube_pod_status_ready{{{pods},condition="false"}}) == 1',
            budget,
            warning,
            f"{{{{ $labels.pod }}}} ({where}) has not been ready for {prom_duration(budget)}",
            "A replica took longer than its startup budget (health.startup_timeout "
            f"{prom_duration(deployment.health.startup_timeout)}) plus "
            f"{prom_duration(COLD_NODE_SECONDS)} for a GPU node and the image. Requests held "
            "for it by the scale-from-zero interceptor time out now. Check the pod's events "
            "(no GPU node?) and logs (weights still downloading?).",
        )
    )
    alerts.append(
        _alert(
            "IacServerCannotStart",
            "max by (namespace, pod) (kube_pod_container_status_waiting_reason{"
            f'{pods},reason=~"CrashLoopBackOff|ImagePullBackOff|ErrImagePull|'
            'CreateContainerConfigError|InvalidImageName"}) == 1',
            alerting.cannot_start_for,
            warning,
            f"{{{{ $labels.pod }}}} ({where}) cannot start",
            "The server container keeps crashing or its image cannot be pulled, or a Secret it "
            "reads is missing. Check the image tag, `secrets:` and the pod's logs.",
        )
    )
    return alerts


def _rollout_alerts(
    deployment: DeploymentRelease,
    namespace: str,
    alerting: Alerting,
    warning: dict[str, str],
    where: str,
) -> list[dict[str, Any]]:
    """A rollout of the Deployment that stalls or is left paused."""
    workload = f'namespace="{namespace}",deployment="{deployment.object_name}"'
    alerts = []
    alerts.append(
        _alert(
            "IacRolloutStalled",
            f'max(kube_deployment_status_condition{{{workload},condition="Progressing",'
            'status="false"}) == 1',
            alerting.rollout_stalled_for,
            warning,
            f"The rollout of {where} has made no progress",
            "The Deployment exceeded its progress deadline (startup budget + 10m): new "
            "replicas do not become ready. Traffic stays on the replicas that are ready.",
        )
    )
    alerts.append(
        _alert(
            "IacRolloutPaused",
            f"max(kube_deployment_spec_paused{{{workload}}}) == 1",
            alerting.rollout_paused_for,
            warning,
            f"The rollout of {where} has been paused for "
            f"{prom_duration(alerting.rollout_paused_for)}",
            "Someone paused the Deployment (`kubectl rollout pause`); iac never does. Resume "
            "it or roll it back.",
        )
    )
    return alerts
