"""The PrometheusRule of a model: its recording rules (built here) and its alerts
(`alerts.py`)."""

from __future__ import annotations

from typing import Any

from iac.compile.monitoring.alerts import (
    ALERTING,
    Alerting,
    deployment_alerts,
    group_alerts,
    scrape_alert,
)
from iac.compile.monitoring.object_labels import model_labels
from iac.compile.monitoring.promql import by_clause, format_number, label_selector
from iac.compile.monitoring.scrape import scraped
from iac.compile.monitoring.series import (
    ERROR_RATIO,
    INFLIGHT,
    INFLIGHT_AUTOSCALER,
    INFLIGHT_TARGET,
    QUANTILES,
    RATE_WINDOW,
    REPLICAS_AVAILABLE,
    REPLICAS_DESIRED,
    REQUESTS,
    static_labels,
)
from iac.compile.monitoring.servers import MetricGroup, metric_groups, valid_in_flight
from iac.compile.release import DeploymentRelease, ModelRelease
from iac.compile.serving.scaling import in_flight_query


def prometheus_rule(
    model: ModelRelease, namespace: str, alerting: Alerting = ALERTING
) -> dict[str, Any]:
    groups = metric_groups(model)
    active = [model.deployments[n] for n in sorted(model.deployments)]
    active = [d for d in active if d.active]
    recording: list[dict[str, Any]] = []
    alerts: list[dict[str, Any]] = []
    for group in groups:
        recording += _group_records(group, model.name, namespace)
        alerts += group_alerts(group, model.name, namespace, alerting)
    if groups:
        alerts.append(scrape_alert(model.name, namespace, alerting))
    for deployment in active:
        recording += _deployment_records(deployment, namespace)
        if deployment.environment:
            alerts += deployment_alerts(deployment, namespace, alerting)
    rule_groups = [{"name": f"iac.{model.name}.recording", "rules": recording}]
    if alerts:
        rule_groups.append({"name": f"iac.{model.name}.alerts", "rules": alerts})
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": model.name,
            "namespace": namespace,
            "labels": model_labels(model.name),
        },
        "spec": {"groups": rule_groups},
    }


# Labels and `by` clauses that many rules have in common, built once: a 1,000-model stack has
# tens of thousands of rules. A labels dict is shared by the rules that carry it, as
# `iac.compile.serving.workload` shares the common parts of Deployments (compiled objects are
# read-only).
_BY = by_clause()
_BY_LE = by_clause("le")
_QUANTILE_LABELS = {q: {"quantile": q} for q in QUANTILES}


def _record(name: str, expr: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    rule: dict[str, Any] = {"record": name, "expr": expr}
    if labels:
        rule["labels"] = labels
    return rule


def _group_records(group: MetricGroup, model: str, namespace: str) -> list[dict[str, Any]]:
    base = (f'namespace="{namespace}"', f'model="{model}"', group.matcher)
    records = []
    if group.in_flight:
        names = '__name__=~"' + "|".join(group.in_flight) + '"'
        records.append(_record(INFLIGHT, f"sum {_BY} ({label_selector(names, *base)})"))
    server = group.server
    if server is None:
        return records
    selector = label_selector(*base)
    records.append(
        _record(REQUESTS, f"sum {_BY} (rate({server.requests}{selector}[{RATE_WINDOW}]))")
    )
    failed, failed_matchers, total, total_matchers = server.errors
    failures = f"sum {_BY} (rate({failed}{label_selector(*base, failed_matchers)}[{RATE_WINDOW}]))"
    requests = f"sum {_BY} (rate({total}{label_selector(*base, total_matchers)}[{RATE_WINDOW}]))"
    # A failure counter appears with the first failure: until then the ratio is 0, not absent.
    records.append(_record(ERROR_RATIO, f"({failures} or 0 * {requests}) / {requests}"))
    for histogram in server.histograms:
        buckets = " or ".join(
            f"sum {_BY_LE} (rate({metric}{selector}[{RATE_WINDOW}]))"
            for metric in histogram.metrics
        )
        records += [
            _record(histogram.series, f"histogram_quantile({q}, {buckets})", _QUANTILE_LABELS[q])
            for q in QUANTILES
        ]
    return records


def _deployment_records(deployment: DeploymentRelease, namespace: str) -> list[dict[str, Any]]:
    static = static_labels(deployment, namespace)  # shared by the deployment's records
    workload = f'namespace="{namespace}",deployment="{deployment.object_name}"'
    records = []
    if scraped(deployment) and valid_in_flight(deployment.in_flight):
        records.append(_record(INFLIGHT_AUTOSCALER, in_flight_query(deployment, namespace), static))
        target = format_number(deployment.autoscaling.target_per_replica)
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
