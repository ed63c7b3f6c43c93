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
  (`iac.compile.dashboards`), with an environment selector and promotion/rollout annotations.

Which server metrics exist depends on the server. `SERVERS` maps the prefix of the
`metrics.in_flight` names a container declares (`vllm:`, `te_`) to the metric names of that
server; a server it does not know still gets the in-flight and replica rules, the replica and
scaling alerts and its dashboard, without request, error and latency series.

Pure and deterministic: models, deployments and rules are visited in sorted order.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from iac.compile import dashboards, labels
from iac.compile.dashboards import Annotation, Panel, Target
from iac.compile.names import object_name
from iac.compile.release import DeploymentRelease, ModelRelease, Release
from iac.compile.scaling import COLD_NODE_SECONDS, HPA_SYNC_PERIOD, in_flight_query

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
    "dashboard_uid",
    "monitoring_objects",
    "pod_monitor",
    "prom_duration",
    "prometheus_rule",
    "server_metrics",
]

# --- recorded series: rollout gates and dashboards use them by these names ---------------------
# Every one carries `namespace`, `model`, `deployment` and (while the deployment serves one)
# `environment`.

INFLIGHT = "iac:inflight_requests:sum"
"""Requests the pods hold now: the sum of the container's `metrics.in_flight` metrics, the
ones KEDA scales on."""
INFLIGHT_AUTOSCALER = "iac:inflight_requests:avg_over_time"
"""Exactly the value KEDA's Prometheus trigger reads for a deployment: the in-flight requests
averaged over its `autoscaling_window` (`iac.compile.scaling.in_flight_query`). A deployment
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
SCRAPE_INTERVAL = HPA_SYNC_PERIOD
"""Seconds between scrapes: KEDA polls every 15 s."""
MIN_SCRAPE_INTERVAL = 5
SCRAPE_TIMEOUT = 10
COMPONENT = "monitoring"
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


# --- alert defaults ---------------------------------------------------------------------------


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


# --- what each server exposes -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Histogram:
    series: str
    """Recorded name (LATENCY, TTFT, TPOT)."""
    metrics: tuple[str, ...]
    """The server's histogram, `_bucket` included; where a server renamed it, the current
    name first and older ones after (the first one present is used)."""
    title: str
    objective: float | None
    """Alert when the p95 stays above this many seconds; None: no alert."""
    alert: str | None


@dataclass(frozen=True, slots=True)
class ServerMetrics:
    """Metric names of one serving server."""

    server: str
    prefix: str
    """The container's `metrics.in_flight` names all start with it."""
    requests: str
    """Counter of finished requests."""
    errors: tuple[str, str, str, str]
    """(failed counter, its matchers, all-requests counter, its matchers): the error ratio."""
    histograms: tuple[Histogram, ...]
    note: str
    """Shown on the error-ratio panel: what the error ratio needs."""


VLLM = ServerMetrics(
    server="vllm",
    prefix="vllm:",
    requests="vllm:request_success_total",
    # HTTP metrics (prometheus-fastapi-instrumentator, status grouped as 2xx/4xx/5xx) exist
    # from vLLM 0.8.3 on; older images have no error series, so the error alert stays silent.
    errors=(
        "http_requests_total",
        'handler=~"/v1/.+",status="5xx"',
        "http_requests_total",
        'handler=~"/v1/.+"',
    ),
    histograms=(
        Histogram(
            LATENCY, ("vllm:e2e_request_latency_seconds_bucket",), "Request latency", None, None
        ),
        Histogram(
            TTFT,
            ("vllm:time_to_first_token_seconds_bucket",),
            "Time to first token",
            2.0,
            "IacTimeToFirstTokenSlow",
        ),
        # vLLM 0.11 renamed time_per_output_token to inter_token_latency (same observations,
        # same buckets) and removed the old name in 0.13.
        Histogram(
            TPOT,
            (
                "vllm:inter_token_latency_seconds_bucket",
                "vllm:time_per_output_token_seconds_bucket",
            ),
            "Time per output token",
            0.1,
            "IacTimePerOutputTokenSlow",
        ),
    ),
    note="vLLM reports errors from version 0.8.3 on (http_requests_total).",
)
TEI = ServerMetrics(
    server="tei",
    prefix="te_",
    requests="te_request_count",
    # Failures the client caused (bad input, a client that went away) are not server errors.
    errors=(
        "te_request_failure",
        'err!~"validation|tokenization|batch_size|model_type|dropped"',
        "te_request_count",
        "",
    ),
    histograms=(
        Histogram(
            LATENCY,
            ("te_request_duration_bucket",),
            "Request latency",
            1.0,
            "IacRequestLatencyHigh",
        ),
    ),
    note="",
)
SERVERS: tuple[ServerMetrics, ...] = (VLLM, TEI)


def server_metrics(in_flight: Sequence[str]) -> ServerMetrics | None:
    """The server whose metrics a container declares, known by their prefix; None if none."""
    for server in SERVERS:
        if in_flight and all(name.startswith(server.prefix) for name in in_flight):
            return server
    return None


# --- entry point -----------------------------------------------------------------------------


def monitoring_objects(release: Release, alerting: Alerting = ALERTING) -> list[dict[str, Any]]:
    """PodMonitors, PrometheusRules and dashboard ConfigMaps of a release."""
    objects: list[dict[str, Any]] = []
    namespace = release.cluster.namespace
    for model_name in sorted(release.models):
        model = release.models[model_name]
        active = [model.deployments[n] for n in sorted(model.deployments)]
        active = [d for d in active if d.active]
        if not active:
            continue
        objects.extend(pod_monitor(d, namespace) for d in active if _scraped(d))
        objects.append(prometheus_rule(model, namespace, alerting))
        objects.append(dashboard_config_map(model, release.cluster.name, namespace))
    return objects


def _scraped(deployment: DeploymentRelease) -> bool:
    return deployment.active and deployment.container.metrics is not None


# --- PodMonitor ------------------------------------------------------------------------------


def metrics_port_name(deployment: DeploymentRelease) -> str:
    """The container port serving metrics, named as `iac.compile.workload` names it."""
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
    interval = scrape_interval(deployment)
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
    if deployment.environment:
        # No source labels: the empty value matches the default regex, so the label is set
        # to the replacement on every target.
        relabelings.append(
            {
                "action": "replace",
                "targetLabel": "environment",
                "replacement": deployment.environment,
            }
        )
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": {
            "name": deployment.object_name,
            "namespace": namespace,
            "labels": _deployment_labels(deployment),
        },
        "spec": {
            "selector": {"matchLabels": labels.selector(deployment.model, deployment.name)},
            "namespaceSelector": {"matchNames": [namespace]},
            "podMetricsEndpoints": [
                {
                    "port": metrics_port_name(deployment),
                    "path": path,
                    "interval": f"{interval}s",
                    "scrapeTimeout": f"{min(SCRAPE_TIMEOUT, interval)}s",
                    "relabelings": relabelings,
                }
            ],
        },
    }


def _pod_label_meta(label: str) -> str:
    """`iac.dev/model` → `__meta_kubernetes_pod_label_iac_dev_model` (Prometheus' name)."""
    return "__meta_kubernetes_pod_label_" + re.sub(r"[^a-zA-Z0-9_]", "_", label)


def _deployment_labels(deployment: DeploymentRelease) -> dict[str, str]:
    base = {
        **labels.model(deployment.model),
        "app.kubernetes.io/instance": deployment.object_name,
        "app.kubernetes.io/component": COMPONENT,
        labels.DEPLOYMENT: deployment.name,
    }
    return labels.with_environment(base, deployment.environment)


def _model_labels(model: str) -> dict[str, str]:
    return {**labels.model(model), "app.kubernetes.io/component": COMPONENT}


# --- PrometheusRule --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Group:
    """Deployments of a model that declare the same in-flight metrics: one set of rules."""

    in_flight: tuple[str, ...]
    server: ServerMetrics | None
    deployments: tuple[str, ...]
    matcher: str
    """`deployment=~"..."` when the model has several groups, else empty."""


def _groups(model: ModelRelease) -> list[_Group]:
    by_metrics: dict[tuple[str, ...], list[str]] = {}
    for name in sorted(model.deployments):
        deployment = model.deployments[name]
        if _scraped(deployment):
            by_metrics.setdefault(_valid(deployment.in_flight), []).append(name)
    several = len(by_metrics) > 1
    return [
        _Group(
            in_flight=key,
            server=server_metrics(key),
            deployments=tuple(names),
            matcher=f'deployment=~"{"|".join(names)}"' if several else "",
        )
        for key, names in sorted(by_metrics.items(), key=lambda item: item[1])
    ]


def _valid(in_flight: Sequence[str]) -> tuple[str, ...]:
    """The in-flight metrics, or () when a name is not a Prometheus metric name (no query can
    be built from it)."""
    if all(_METRIC_NAME.fullmatch(name) for name in in_flight):
        return tuple(in_flight)
    return ()


def prometheus_rule(
    model: ModelRelease, namespace: str, alerting: Alerting = ALERTING
) -> dict[str, Any]:
    groups = _groups(model)
    active = [model.deployments[n] for n in sorted(model.deployments)]
    active = [d for d in active if d.active]
    recording: list[dict[str, Any]] = []
    alerts: list[dict[str, Any]] = []
    for group in groups:
        recording += _group_records(group, model.name, namespace)
        alerts += _group_alerts(group, model.name, namespace, alerting)
    if groups:
        alerts.append(_scrape_alert(model.name, namespace, alerting))
    for deployment in active:
        recording += _deployment_records(deployment, namespace)
        if deployment.environment:
            alerts += _deployment_alerts(deployment, namespace, alerting)
    rule_groups = [{"name": f"iac.{model.name}.recording", "rules": recording}]
    if alerts:
        rule_groups.append({"name": f"iac.{model.name}.alerts", "rules": alerts})
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": model.name,
            "namespace": namespace,
            "labels": _model_labels(model.name),
        },
        "spec": {"groups": rule_groups},
    }


def _selector(*matchers: str) -> str:
    return "{" + ",".join(m for m in matchers if m) + "}"


def _by(*extra: str) -> str:
    return "by (" + ", ".join((*SERIES_LABELS, *extra)) + ")"


def _record(name: str, expr: str, extra: Mapping[str, str] | None = None) -> dict[str, Any]:
    rule: dict[str, Any] = {"record": name, "expr": expr}
    if extra:
        rule["labels"] = dict(extra)
    return rule


def _group_records(group: _Group, model: str, namespace: str) -> list[dict[str, Any]]:
    base = (f'namespace="{namespace}"', f'model="{model}"', group.matcher)
    records = []
    if group.in_flight:
        names = '__name__=~"' + "|".join(group.in_flight) + '"'
        records.append(_record(INFLIGHT, f"sum {_by()} ({_selector(names, *base)})"))
    server = group.server
    if server is None:
        return records
    selector = _selector(*base)
    records.append(
        _record(REQUESTS, f"sum {_by()} (rate({server.requests}{selector}[{RATE_WINDOW}]))")
    )
    failed, failed_matchers, total, total_matchers = server.errors
    failures = f"sum {_by()} (rate({failed}{_selector(*base, failed_matchers)}[{RATE_WINDOW}]))"
    requests = f"sum {_by()} (rate({total}{_selector(*base, total_matchers)}[{RATE_WINDOW}]))"
    # A failure counter appears with the first failure: until then the ratio is 0, not absent.
    records.append(_record(ERROR_RATIO, f"({failures} or 0 * {requests}) / {requests}"))
    for histogram in server.histograms:
        buckets = " or ".join(
            f"sum {_by('le')} (rate({metric}{selector}[{RATE_WINDOW}]))"
            for metric in histogram.metrics
        )
        records += [
            _record(histogram.series, f"histogram_quantile({q}, {buckets})", {"quantile": q})
            for q in QUANTILES
        ]
    return records


def _deployment_records(deployment: DeploymentRelease, namespace: str) -> list[dict[str, Any]]:
    static = _static_labels(deployment, namespace)
    workload = f'namespace="{namespace}",deployment="{deployment.object_name}"'
    records = []
    if _scraped(deployment) and _valid(deployment.in_flight):
        records.append(_record(INFLIGHT_AUTOSCALER, in_flight_query(deployment, namespace), static))
        target = _number(deployment.autoscaling.target_per_replica)
        records.append(_record(INFLIGHT_TARGET, f"vector({target})", static))
    records.append(
        _record(
            REPLICAS_AVAILABLE,
            f"sum(kube_deployment_status_replicas_available{{{workload}}})",
            static,
        )
    )
    records.append(
        _record(REPLICAS_DESIRED, f"sum(kube_deployment_spec_replicas{{{workload}}})", static)
    )
    return records


def _static_labels(deployment: DeploymentRelease, namespace: str) -> dict[str, str]:
    """Series labels for rules whose input does not carry them (kube-state-metrics)."""
    static = {"namespace": namespace, "model": deployment.model, "deployment": deployment.name}
    if deployment.environment:
        static["environment"] = deployment.environment
    return static


def _alert(
    name: str,
    expr: str,
    duration: int,
    severity: str,
    summary: str,
    description: str,
    extra: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    rule: dict[str, Any] = {"alert": name, "expr": expr}
    if duration:
        rule["for"] = prom_duration(duration)
    rule["labels"] = {**(extra or {}), "severity": severity}
    rule["annotations"] = {"summary": summary, "description": description}
    return rule


_WHERE = "{{ $labels.deployment }} of {{ $labels.model }} in {{ $labels.environment }}"


def _group_alerts(
    group: _Group, model: str, namespace: str, alerting: Alerting
) -> list[dict[str, Any]]:
    """Alerts on the recorded server series, for deployments that serve an environment."""
    server = group.server
    if server is None:
        return []
    served = (f'namespace="{namespace}"', f'model="{model}"', 'environment!=""', group.matcher)
    alerts = [
        _alert(
            "IacErrorRatioHigh",
            f"{ERROR_RATIO}{_selector(*served)} > {_number(alerting.error_ratio)}",
            alerting.error_for,
            "critical",
            f"{_WHERE} fails {{{{ $value | humanizePercentage }}}} of its requests",
            f"More than {_percent(alerting.error_ratio)} of requests failed in the server for "
            f"{prom_duration(alerting.error_for)}. Check the server's logs; if it started with "
            "a promotion, promote the previous deployment back.",
        )
    ]
    for histogram in server.histograms:
        if histogram.objective is None or histogram.alert is None:
            continue
        alerts.append(
            _alert(
                histogram.alert,
                histogram.series
                + _selector(*served, 'quantile="0.95"')
                + f" > {_number(histogram.objective)}",
                alerting.latency_for,
                "warning",
                f"{histogram.title} p95 of {_WHERE} is {{{{ $value | humanizeDuration }}}}",
                f"The 95th percentile of {histogram.title.lower()} stayed above "
                f"{_number(histogram.objective)}s for {prom_duration(alerting.latency_for)}. "
                "If replicas are at their maximum, raise max_replicas; if not, lower "
                "concurrency_target so the autoscaler adds replicas sooner.",
            )
        )
    return alerts


def _scrape_alert(model: str, namespace: str, alerting: Alerting) -> dict[str, Any]:
    served = _selector(f'namespace="{namespace}"', f'model="{model}"', 'environment!=""')
    ready = _selector(f'namespace="{namespace}"', 'condition="true"')
    return _alert(
        "IacMetricsScrapeFailing",
        f"up{served} == 0 and on (namespace, pod) kube_pod_status_ready{ready} == 1",
        alerting.scrape_failing_for,
        "warning",
        f"Prometheus cannot scrape {{{{ $labels.pod }}}} ({_WHERE})",
        "A ready pod's metrics endpoint does not answer. KEDA then sees no in-flight requests "
        "from it and may scale the deployment down under load.",
    )


def _deployment_alerts(
    deployment: DeploymentRelease, namespace: str, alerting: Alerting
) -> list[dict[str, Any]]:
    """Alerts from kube-state-metrics on one deployment that serves an environment."""
    static = _static_labels(deployment, namespace)
    where = f"{deployment.name} of {deployment.model} in {deployment.environment}"
    workload = f'namespace="{namespace}",deployment="{deployment.object_name}"'
    pods = f'namespace="{namespace}",pod=~"{deployment.object_name}-[a-z0-9]+-[a-z0-9]+"'
    scaling = deployment.autoscaling
    alerts = []
    if scaling.max_replicas > scaling.min_replicas:
        hpa = f'namespace="{namespace}",horizontalpodautoscaler="keda-hpa-{deployment.object_name}"'
        held = scaling.scale_down_delay + alerting.stuck_margin
        alerts.append(
            _alert(
                "IacStuckAtMaxReplicas",
                f"max(kube_horizontalpodautoscaler_status_current_replicas{{{hpa}}})"
                f" >= max(kube_horizontalpodautoscaler_spec_max_replicas{{{hpa}}})",
                held,
                "warning",
                f"{where} has run at its maximum of {scaling.max_replicas} replicas for "
                f"{prom_duration(held)}",
                "Load has not dropped below what max_replicas can carry for longer than the "
                f"scale-down delay ({prom_duration(scaling.scale_down_delay)}): requests queue. "
                "Raise max_replicas (and the node pool's GPUs), or check the in-flight graph.",
                static,
            )
        )
    budget = deployment.health.startup_timeout + COLD_NODE_SECONDS
    alerts.append(
        _alert(
            "IacColdStartOverBudget",
            f'max by (namespace, pod) (kube_pod_status_phase{{{pods},phase="Pending"}}'
            f' or kube_pod_status_ready{{{pods},condition="false"}}) == 1',
            budget,
            "warning",
            f"{{{{ $labels.pod }}}} ({where}) has not been ready for {prom_duration(budget)}",
            "A replica took longer than its startup budget (health.startup_timeout "
            f"{prom_duration(deployment.health.startup_timeout)}) plus "
            f"{prom_duration(COLD_NODE_SECONDS)} for a GPU node and the image. Requests held "
            "for it by the scale-from-zero interceptor time out now. Check the pod's events "
            "(no GPU node?) and logs (weights still downloading?).",
            static,
        )
    )
    alerts.append(
        _alert(
            "IacServerCannotStart",
            "max by (namespace, pod) (kube_pod_container_status_waiting_reason{"
            f'{pods},reason=~"CrashLoopBackOff|ImagePullBackOff|ErrImagePull|'
            'CreateContainerConfigError|InvalidImageName"}) == 1',
            alerting.cannot_start_for,
            "warning",
            f"{{{{ $labels.pod }}}} ({where}) cannot start",
            "The server container keeps crashing or its image cannot be pulled, or a Secret it "
            "reads is missing. Check the image tag, `secrets:` and the pod's logs.",
            static,
        )
    )
    alerts.append(
        _alert(
            "IacRolloutStalled",
            f'max(kube_deployment_status_condition{{{workload},condition="Progressing",'
            'status="false"}) == 1',
            alerting.rollout_stalled_for,
            "warning",
            f"The rollout of {where} has made no progress",
            "The Deployment exceeded its progress deadline (startup budget + 10m): new "
            "replicas do not become ready. Traffic stays on the replicas that are ready.",
            static,
        )
    )
    alerts.append(
        _alert(
            "IacRolloutPaused",
            f"max(kube_deployment_spec_paused{{{workload}}}) == 1",
            alerting.rollout_paused_for,
            "warning",
            f"The rollout of {where} has been paused for "
            f"{prom_duration(alerting.rollout_paused_for)}",
            "Someone paused the Deployment (`kubectl rollout pause`); iac never does. Resume "
            "it or roll it back.",
            static,
        )
    )
    return alerts


# --- dashboard -------------------------------------------------------------------------------


def dashboard_uid(cluster: str, model: str) -> str:
    """Stable, unique per cluster and model, at most 40 characters."""
    return object_name("iac", cluster, model, limit=dashboards.MAX_UID)


def dashboard_config_map(model: ModelRelease, cluster: str, namespace: str) -> dict[str, Any]:
    board = dashboard(model, cluster, namespace)
    return dashboards.config_map(
        object_name(model.name, "dashboard"),
        namespace,
        _model_labels(model.name),
        f"{model.name}.json",
        board,
    )


def dashboard(model: ModelRelease, cluster: str, namespace: str) -> dict[str, Any]:
    groups = _groups(model)
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
                    f" The alert fires when the p95 stays above {_number(histogram.objective)}s."
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


# --- formatting ------------------------------------------------------------------------------


def prom_duration(seconds: int) -> str:
    """`2400` → `40m`, `5400` → `1h30m`, `90` → `1m30s`: Prometheus' duration syntax."""
    if seconds <= 0:
        return "0s"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return "".join(f"{v}{u}" for v, u in ((hours, "h"), (minutes, "m"), (secs, "s")) if v)


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:g}"


def _percent(ratio: float) -> str:
    return f"{_number(ratio * 100)} %"
