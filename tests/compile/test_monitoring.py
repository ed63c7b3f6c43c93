"""Monitoring objects (issue #13): PodMonitors, PrometheusRules and Grafana dashboards.

Every object is checked against its CRD or Kubernetes schema, every PromQL expression with a
PromQL parser (promql-parser), every dashboard by loading it into Grafana's dashboard model
(grafana-foundation-sdk); one deployment is checked field by field per kind.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import promql_parser
import pytest
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models import prometheus as grafana_prometheus
from grafana_foundation_sdk.models.dashboard import Dashboard, RowPanel

from iac.compile import Compiled, compile_stack
from iac.compile.monitoring import (
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
    dashboard_uid,
    monitoring_objects,
    prom_duration,
)
from iac.compile.monitoring.dashboards import MAX_UID, render
from iac.object_validation import ObjectValidator
from iac.validate import check_stack
from tests.support.compile_helpers import ROOT, compile_text

Obj = dict[str, Any]
STACKS = [*sorted(ROOT.glob("examples/*/stack.yaml")), ROOT / "stacks" / "demo.yaml"]
KINDS = {"PodMonitor", "PrometheusRule", "ConfigMap"}
PROM_DURATION = re.compile(r"(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?")
RECORD_NAME = re.compile(r"iac:[a-z_]+:[a-z0-9_]+")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
ALERT_NAME = re.compile(r"Iac[A-Z][A-Za-z]+")
# The Prometheus data source's annotation fields, which Grafana's typed model does not hold
# (Grafana moves them into a query target when the dashboard loads).
ANNOTATION_EXTRAS = {"step", "tagKeys", "textFormat", "titleFormat", "useValueForTime"}

ONE = """\
version: 1
imports: [MODULES/vllm.yaml]
cluster: {name: c1, namespace: serving}
models:
  llm:
    template: vllm
    params: {hf_model: org/llm}
    resources: {accelerator: L4, cpu: "4", memory: 32Gi}
    health: {startup_timeout: 20m}
    deployments:
      v1: {}
    environments:
      production:
        deployment: v1
        autoscaling: {min_replicas: 1, max_replicas: 4, scale_down_delay: 10m}
auth: {public: true}
"""


@functools.cache
def _validator() -> ObjectValidator:
    return ObjectValidator()


@functools.cache
def _compiled(path: Path) -> Compiled:
    return compile_stack(check_stack(str(path)))


def _objects(compiled: Compiled) -> list[Obj]:
    objects = monitoring_objects(compiled.release)
    assert [p for obj in objects for p in _validator().problems(obj)] == []
    return objects


def _one(objects: list[Obj], kind: str, name: str) -> Obj:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, [o["kind"] + "/" + o["metadata"]["name"] for o in objects]
    return found[0]


def _rules(rule: Obj) -> list[Obj]:
    return [r for group in rule["spec"]["groups"] for r in group["rules"]]


def _board(config_map: Obj) -> Obj:
    (text,) = config_map["data"].values()
    board: Obj = json.loads(text)
    return board


def _expressions(objects: list[Obj]) -> Iterator[str]:
    """Every PromQL expression emitted; dashboard variables replaced by what "All" sends."""
    for obj in objects:
        if obj["kind"] == "PrometheusRule":
            yield from (str(rule["expr"]) for rule in _rules(obj))
        elif obj["kind"] == "ConfigMap":
            board = _board(obj)
            exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
            exprs += [a["expr"] for a in board["annotations"]["list"] if "expr" in a]
            yield from (e.replace("$environment", ".*") for e in exprs)


def _stack(tmp_path: Path, text: str = ONE) -> list[Obj]:
    return _objects(compile_text(tmp_path, text))


# --- every example and the demo ---------------------------------------------------------------


@pytest.mark.parametrize("path", STACKS, ids=lambda p: p.parent.name)
def test_objects_are_schema_valid_unique_and_deterministic(path: Path) -> None:
    objects = _objects(_compiled(path))
    assert {o["kind"] for o in objects} <= KINDS
    assert "PrometheusRule" in {o["kind"] for o in objects}
    ids = [(o["kind"], o["metadata"]["name"]) for o in objects]
    assert len(ids) == len(set(ids))
    for obj in objects:
        assert obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "iac"
        # A chain's dashboard belongs to the chain (cluster-wide for the program), the rest
        # to a model.
        owner = (
            "iac.dev/chain" if obj["metadata"]["name"].startswith("iac-chain-") else "iac.dev/model"
        )
        assert obj["metadata"]["labels"][owner]
    again = monitoring_objects(compile_stack(check_stack(str(path))).release)
    assert json.dumps(again) == json.dumps(objects), "same stack, same bytes (key order too)"


@pytest.mark.parametrize("path", STACKS, ids=lambda p: p.parent.name)
def test_every_expression_parses_as_promql(path: Path) -> None:
    expressions = list(_expressions(_objects(_compiled(path))))
    assert expressions
    for expr in expressions:
        try:
            promql_parser.parse(expr)
        except ValueError as error:  # the parser's error names the problem
            pytest.fail(f"{expr}: {error}")


@pytest.mark.parametrize("path", STACKS, ids=lambda p: p.parent.name)
def test_rules_are_well_formed(path: Path) -> None:
    for obj in _objects(_compiled(path)):
        if obj["kind"] != "PrometheusRule":
            continue
        names = [g["name"] for g in obj["spec"]["groups"]]
        assert len(names) == len(set(names))
        for rule in _rules(obj):
            assert ("record" in rule) != ("alert" in rule), rule
            if "record" in rule:
                assert rule["record"] in RECORDED
                assert "for" not in rule
                assert "annotations" not in rule
            else:
                assert ALERT_NAME.fullmatch(rule["alert"])
                assert rule["labels"]["severity"] in ("critical", "warning")
                assert set(rule["annotations"]) == {"summary", "description"}
                assert PROM_DURATION.fullmatch(rule["for"])
            assert all(LABEL_NAME.fullmatch(k) for k in rule.get("labels", {}))


@pytest.mark.parametrize("path", STACKS, ids=lambda p: p.parent.name)
def test_dashboards_load_as_grafana_dashboards(path: Path) -> None:
    register_default_plugins()
    boards = [_board(o) for o in _objects(_compiled(path)) if o["kind"] == "ConfigMap"]
    assert boards
    for board in boards:
        model = Dashboard.from_json(board)
        assert model.uid == board["uid"]
        assert model.uid is not None
        assert 0 < len(model.uid) <= MAX_UID
        assert model.schema_version == board["schemaVersion"]
        assert model.panels
        for panel in model.panels:
            if isinstance(panel, RowPanel):  # a chain's dashboard: a row per chainlet
                assert panel.title
                assert not panel.collapsed
                continue
            assert panel.targets
            for target in panel.targets:
                assert isinstance(target, grafana_prometheus.Dataquery)
                assert target.expr
        variables = {v.name: v for v in model.templating.list_val or []}
        assert variables["environment"].include_all
        assert [a.name for a in model.annotations.list_val or []][1:] == ["Promotions", "Rollouts"]
        # Nothing we emit is lost by the typed model, except the Prometheus annotation fields.
        typed = json.loads(json.dumps(model, cls=JSONEncoder))
        assert sorted(_dropped(board, typed)) == sorted(
            f"annotations.list[{i}].{key}"
            for i, a in enumerate(board["annotations"]["list"])
            if "expr" in a
            for key in ANNOTATION_EXTRAS
        )


def _dropped(ours: Any, typed: Any, path: str = "") -> Iterator[str]:
    """Paths of fields present in `ours` and absent from (or different in) `typed`."""
    if isinstance(ours, dict) and isinstance(typed, dict):
        for key, value in ours.items():
            where = f"{path}.{key}" if path else key
            if key not in typed:
                yield where
            else:
                yield from _dropped(value, typed[key], where)
    elif isinstance(ours, list) and isinstance(typed, list) and len(ours) == len(typed):
        for index, (a, b) in enumerate(zip(ours, typed, strict=True)):
            yield from _dropped(a, b, f"{path}[{index}]")
    elif ours != typed:
        yield path


# --- one deployment, field by field -----------------------------------------------------------


def test_pod_monitor_scrapes_the_server_and_labels_every_series(tmp_path: Path) -> None:
    monitor = _one(_stack(tmp_path), "PodMonitor", "llm-v1")
    assert monitor == {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": {
            "name": "llm-v1",
            "namespace": "serving",
            "labels": {
                "app.kubernetes.io/name": "llm",
                "app.kubernetes.io/managed-by": "iac",
                "app.kubernetes.io/instance": "llm-v1",
                "app.kubernetes.io/component": "monitoring",
                "iac.dev/model": "llm",
                "iac.dev/deployment": "v1",
                "iac.dev/environment": "production",
            },
        },
        "spec": {
            # The Deployment's own pod selector: model and deployment, never the environment.
            "selector": {"matchLabels": {"iac.dev/model": "llm", "iac.dev/deployment": "v1"}},
            "namespaceSelector": {"matchNames": ["serving"]},
            "podMetricsEndpoints": [
                {
                    "port": "http",  # vLLM serves /metrics on its serving port
                    "path": "/metrics",
                    "interval": "15s",
                    "scrapeTimeout": "10s",
                    "relabelings": [
                        {
                            "action": "replace",
                            "sourceLabels": ["__meta_kubernetes_pod_label_iac_dev_model"],
                            "targetLabel": "model",
                        },
                        {
                            "action": "replace",
                            "sourceLabels": ["__meta_kubernetes_pod_label_iac_dev_deployment"],
                            "targetLabel": "deployment",
                        },
                        # Static: the pods do not carry the environment.
                        {
                            "action": "replace",
                            "targetLabel": "environment",
                            "replacement": "production",
                        },
                    ],
                }
            ],
        },
    }


def test_pod_monitor_uses_a_separate_metrics_port(tmp_path: Path) -> None:
    text = """\
    version: 1
    imports: [MODULES/tei.yaml]
    cluster: {name: c1, namespace: serving}
    models:
      emb:
        template: tei
        params: {hf_model: org/emb}
        deployments: {v1: {}}
        environments: {production: {deployment: v1}}
    auth: {public: true}
    """
    compiled = compile_text(tmp_path, text)
    (endpoint,) = _one(_objects(compiled), "PodMonitor", "emb-v1")["spec"]["podMetricsEndpoints"]
    assert endpoint["port"] == "metrics"
    container = next(o for o in compiled.objects if o["kind"] == "Deployment")["spec"]["template"]
    ports = container["spec"]["containers"][0]["ports"]
    assert {"name": "metrics", "containerPort": 9000, "protocol": "TCP"} in ports


def test_a_short_autoscaling_window_is_scraped_twice_per_window(tmp_path: Path) -> None:
    text = ONE.replace("scale_down_delay: 10m}", "scale_down_delay: 10m, autoscaling_window: 10s}")
    (endpoint,) = _one(_stack(tmp_path, text), "PodMonitor", "llm-v1")["spec"][
        "podMetricsEndpoints"
    ]
    assert (endpoint["interval"], endpoint["scrapeTimeout"]) == ("5s", "5s")


def test_recording_rules_for_one_deployment(tmp_path: Path) -> None:
    rule = _one(_stack(tmp_path), "PrometheusRule", "llm")
    assert rule["metadata"]["labels"] == {
        "app.kubernetes.io/name": "llm",
        "app.kubernetes.io/managed-by": "iac",
        "app.kubernetes.io/component": "monitoring",
        "iac.dev/model": "llm",
    }
    recording, alerting = rule["spec"]["groups"]
    assert recording["name"] == "iac.llm.recording"
    assert alerting["name"] == "iac.llm.alerts"
    records = [(r["record"], r.get("labels", {}).get("quantile")) for r in recording["rules"]]
    assert records == [
        (INFLIGHT, None),
        (REQUESTS, None),
        (ERROR_RATIO, None),
        (LATENCY, "0.5"),
        (LATENCY, "0.95"),
        (LATENCY, "0.99"),
        (TTFT, "0.5"),
        (TTFT, "0.95"),
        (TTFT, "0.99"),
        (TPOT, "0.5"),
        (TPOT, "0.95"),
        (TPOT, "0.99"),
        (INFLIGHT_AUTOSCALER, None),
        (INFLIGHT_TARGET, None),
        (REPLICAS_AVAILABLE, None),
        (REPLICAS_DESIRED, None),
    ]
    by_name = {(r["record"], r.get("labels", {}).get("quantile")): r for r in recording["rules"]}
    keep = "sum by (namespace, model, deployment, environment)"
    scope = 'namespace="serving",model="llm"'
    # The metric names the container declares in `metrics.in_flight`, summed as KEDA sums them.
    assert by_name[INFLIGHT, None]["expr"] == (
        f'{keep} ({{__name__=~"vllm:num_requests_running|vllm:num_requests_waiting",{scope}}})'
    )
    assert by_name[REQUESTS, None]["expr"] == (
        f"{keep} (rate(vllm:request_success_total{{{scope}}}[5m]))"
    )
    total = f'{keep} (rate(http_requests_total{{{scope},handler=~"/v1/.+"}}[5m]))'
    failed = f'{keep} (rate(http_requests_total{{{scope},handler=~"/v1/.+",status="5xx"}}[5m]))'
    assert by_name[ERROR_RATIO, None]["expr"] == f"({failed} or 0 * {total}) / {total}"
    assert by_name[TTFT, "0.95"]["expr"] == (
        "histogram_quantile(0.95, sum by (namespace, model, deployment, environment, le) "
        f"(rate(vllm:time_to_first_token_seconds_bucket{{{scope}}}[5m])))"
    )
    # vLLM 0.11 renamed the histogram: the current name, else the old one.
    keep_le = "sum by (namespace, model, deployment, environment, le)"
    assert by_name[TPOT, "0.5"]["expr"] == (
        f"histogram_quantile(0.5, {keep_le} "
        f"(rate(vllm:inter_token_latency_seconds_bucket{{{scope}}}[5m])) or {keep_le} "
        f"(rate(vllm:time_per_output_token_seconds_bucket{{{scope}}}[5m])))"
    )
    assert "vllm:e2e_request_latency_seconds_bucket" in by_name[LATENCY, "0.99"]["expr"]
    static = {
        "namespace": "serving",
        "model": "llm",
        "deployment": "v1",
        "environment": "production",
    }
    autoscaler = by_name[INFLIGHT_AUTOSCALER, None]
    pods = 'namespace="serving",pod=~"llm-v1-[a-z0-9]+-[a-z0-9]+"'
    # The very query of the ScaledObject's Prometheus trigger.
    assert autoscaler["expr"] == (
        f"(sum(avg_over_time(vllm:num_requests_running{{{pods}}}[60s])) or vector(0))"
        f" + (sum(avg_over_time(vllm:num_requests_waiting{{{pods}}}[60s])) or vector(0))"
    )
    assert autoscaler["labels"] == static
    assert by_name[INFLIGHT_TARGET, None] == {
        "record": INFLIGHT_TARGET,
        "expr": "vector(44.8)",  # 64 × 70 %
        "labels": static,
    }
    assert by_name[REPLICAS_AVAILABLE, None] == {
        "record": REPLICAS_AVAILABLE,
        "expr": 'sum(kube_deployment_status_replicas_available{namespace="serving",'
        'deployment="llm-v1"})',
        "labels": static,
    }
    assert by_name[REPLICAS_DESIRED, None]["expr"] == (
        'sum(kube_deployment_spec_replicas{namespace="serving",deployment="llm-v1"})'
    )


def test_the_keda_query_and_the_recorded_autoscaler_series_agree(tmp_path: Path) -> None:
    compiled = compile_text(tmp_path, ONE)
    scaled = next(o for o in compiled.objects if o["kind"] == "ScaledObject")
    rule = _one(_objects(compiled), "PrometheusRule", "llm")
    (recorded,) = [r for r in _rules(rule) if r.get("record") == INFLIGHT_AUTOSCALER]
    assert recorded["expr"] == scaled["spec"]["triggers"][0]["metadata"]["query"]


def test_alerts_for_one_deployment(tmp_path: Path) -> None:
    rule = _one(_stack(tmp_path), "PrometheusRule", "llm")
    alerts = {r["alert"]: r for r in _rules(rule) if "alert" in r}
    assert list(alerts) == [
        "IacErrorRatioHigh",
        "IacTimeToFirstTokenSlow",
        "IacTimePerOutputTokenSlow",
        "IacMetricsScrapeFailing",
        "IacStuckAtMaxReplicas",
        "IacColdStartOverBudget",
        "IacServerCannotStart",
        "IacRolloutStalled",
        "IacRolloutPaused",
    ]
    served = 'namespace="serving",model="llm",environment!=""'
    thresholds = {
        name: (alert["expr"], alert["for"], alert["labels"]["severity"])
        for name, alert in alerts.items()
    }
    assert thresholds["IacErrorRatioHigh"] == (
        f"{ERROR_RATIO}{{{served}}} > 0.05",
        "10m",
        "critical",
    )
    assert thresholds["IacTimeToFirstTokenSlow"] == (
        f'{TTFT}{{{served},quantile="0.95"}} > 2',
        "15m",
        "warning",
    )
    assert thresholds["IacTimePerOutputTokenSlow"] == (
        f'{TPOT}{{{served},quantile="0.95"}} > 0.1',
        "15m",
        "warning",
    )
    assert thresholds["IacMetricsScrapeFailing"] == (
        f"up{{{served}}} == 0 and on (namespace, pod) "
        'kube_pod_status_ready{namespace="serving",condition="true"} == 1',
        "5m",
        "warning",
    )
    hpa = 'namespace="serving",horizontalpodautoscaler="keda-hpa-llm-v1"'
    assert thresholds["IacStuckAtMaxReplicas"] == (
        f"max(kube_horizontalpodautoscaler_status_current_replicas{{{hpa}}})"
        f" >= max(kube_horizontalpodautoscaler_spec_max_replicas{{{hpa}}})",
        "20m",  # the environment's scale_down_delay (10m) + 10m
        "warning",
    )
    pods = 'namespace="serving",pod=~"llm-v1-[a-z0-9]+-[a-z0-9]+"'
    assert thresholds["IacColdStartOverBudget"] == (
        f'max by (namespace, pod) (kube_pod_status_phase{{{pods},phase="Pending"}}'
        f' or kube_pod_status_ready{{{pods},condition="false"}}) == 1',
        "30m",  # health.startup_timeout (20m) + 10m for a GPU node and the image
        "warning",
    )
    assert thresholds["IacServerCannotStart"][1:] == ("10m", "warning")
    assert thresholds["IacRolloutStalled"] == (
        'max(kube_deployment_status_condition{namespace="serving",deployment="llm-v1",'
        'condition="Progressing",status="false"}) == 1',
        "5m",
        "warning",
    )
    assert thresholds["IacRolloutPaused"] == (
        'max(kube_deployment_spec_paused{namespace="serving",deployment="llm-v1"}) == 1',
        "1h",
        "warning",
    )
    # Alerts on kube-state-metrics carry the series labels of the deployment statically.
    static = {
        "namespace": "serving",
        "model": "llm",
        "deployment": "v1",
        "environment": "production",
    }
    for name in ("IacStuckAtMaxReplicas", "IacColdStartOverBudget", "IacRolloutPaused"):
        assert alerts[name]["labels"] == {**static, "severity": "warning"}
    # Alerts on the recorded series take them from the series.
    assert alerts["IacErrorRatioHigh"]["labels"] == {"severity": "critical"}
    assert "4 replicas" in alerts["IacStuckAtMaxReplicas"]["annotations"]["summary"]


def test_dashboard_config_map_for_one_model(tmp_path: Path) -> None:
    config_map = _one(_stack(tmp_path), "ConfigMap", "llm-dashboard")
    assert config_map["metadata"]["labels"] == {
        "app.kubernetes.io/name": "llm",
        "app.kubernetes.io/managed-by": "iac",
        "app.kubernetes.io/component": "monitoring",
        "iac.dev/model": "llm",
        "grafana_dashboard": "1",
    }
    assert list(config_map["data"]) == ["llm.json"]
    text = config_map["data"]["llm.json"]
    board = json.loads(text)
    assert text == render(board)
    assert board["uid"] == "iac-c1-llm"
    assert board["title"] == "llm (c1)"
    assert board["schemaVersion"] == 39
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    environment = variables["environment"]
    assert (environment["type"], environment["query"]) == ("custom", "production")
    assert (environment["includeAll"], environment["allValue"], environment["multi"]) == (
        True,
        ".*",
        True,
    )
    assert [o["value"] for o in environment["options"]] == ["$__all", "production"]
    assert [p["title"] for p in board["panels"]] == [
        "In-flight requests",
        "Autoscaler: load vs capacity at target",
        "Replicas: ready vs desired",
        "Requests per second",
        "Error ratio",
        "Request latency (p50, p95, p99)",
        "Time to first token (p50, p95, p99)",
        "Time per output token (p50, p95, p99)",
    ]
    for panel in board["panels"]:
        for target in panel["targets"]:
            assert 'environment=~"$environment"' in target["expr"]
            assert any(name in target["expr"] for name in RECORDED)
    annotations = {a["name"]: a for a in board["annotations"]["list"]}
    assert annotations["Annotations & Alerts"]["builtIn"] == 1
    assert annotations["Promotions"]["expr"] == (
        f"count by (environment, deployment) ({REPLICAS_DESIRED}"
        '{namespace="serving",model="llm",environment=~"$environment",environment!=""})'
        f" unless count by (environment, deployment) ({REPLICAS_DESIRED}"
        '{namespace="serving",model="llm",environment!=""} offset 5m)'
    )
    assert 'replicaset=~"(llm-v1)-[a-z0-9]+"' in annotations["Rollouts"]["expr"]


# --- which deployments, which rules -----------------------------------------------------------


def test_dashboard_json_has_a_line_per_panel() -> None:
    """Sorted keys; the dashboard's fields and lists indented, each item of a list (a panel,
    a variable, an annotation) on one line."""
    board = {
        "b": [{"y": {"deep": [1, 2.5, None]}, "x": 'é"', "z": []}, "two"],
        "a": {},
        "c": True,
        "d": {"list": [{"k": 1}], "n": 2},
    }
    assert render(board) == (
        "{\n"
        '  "a": {},\n'
        '  "b": [\n'
        '    {"x": "é\\"", "y": {"deep": [1, 2.5, null]}, "z": []},\n'
        '    "two"\n'
        "  ],\n"
        '  "c": true,\n'
        '  "d": {\n'
        '    "list": [\n'
        '      {"k": 1}\n'
        "    ],\n"
        '    "n": 2\n'
        "  }\n"
        "}\n"
    )
    assert json.loads(render(board)) == board


def test_only_active_deployments_that_declare_metrics_are_scraped() -> None:
    demo = _objects(_compiled(ROOT / "stacks" / "demo.yaml"))
    monitors = sorted(o["metadata"]["name"] for o in demo if o["kind"] == "PodMonitor")
    # llama-3-8b-v2 is inactive: no pods, nothing to scrape.
    assert monitors == ["bge-large-v1", "llama-3-8b-dev", "llama-3-8b-v3", "llama-3-8b-v4"]
    llama = _one(demo, "PrometheusRule", "llama-3-8b")
    assert not any(r.get("labels", {}).get("deployment") == "v2" for r in _rules(llama))
    # whisper declares no metrics: replica rules, kube-state-metrics alerts and a dashboard.
    copies = _objects(_compiled(ROOT / "examples" / "05-development-and-copies" / "stack.yaml"))
    assert not [o for o in copies if o["kind"] == "PodMonitor"]
    rules = _rules(_one(copies, "PrometheusRule", "whisper"))
    assert {r["record"] for r in rules if "record" in r} == {REPLICAS_AVAILABLE, REPLICAS_DESIRED}
    assert "IacMetricsScrapeFailing" not in {r.get("alert") for r in rules}
    titles = [p["title"] for p in _board(_one(copies, "ConfigMap", "whisper-dashboard"))["panels"]]
    assert titles == ["Replicas: ready vs desired"]


def test_alerts_only_for_deployments_that_serve_an_environment() -> None:
    demo = _objects(_compiled(ROOT / "stacks" / "demo.yaml"))
    rules = _rules(_one(demo, "PrometheusRule", "llama-3-8b"))
    alerted = {r["labels"].get("deployment") for r in rules if "alert" in r}
    assert alerted == {None, "v3", "v4"}  # dev serves none: recorded, never alerted
    recorded = {r.get("labels", {}).get("deployment") for r in rules if "record" in r}
    assert "dev" in recorded


def test_a_traffic_split_labels_both_sides_with_the_environment() -> None:
    split = _objects(_compiled(ROOT / "examples" / "04-traffic-split" / "stack.yaml"))
    for name in ("mistral-7b-v3", "mistral-7b-v4"):
        (endpoint,) = _one(split, "PodMonitor", name)["spec"]["podMetricsEndpoints"]
        assert endpoint["relabelings"][-1] == {
            "action": "replace",
            "targetLabel": "environment",
            "replacement": "production",
        }


def test_a_promotion_changes_monitors_and_rules_not_pods(tmp_path: Path) -> None:
    body = ONE.replace("v1: {}", "v1: {}\n      v2: {}")
    before = compile_text(tmp_path, body)
    after = compile_text(tmp_path, body.replace("deployment: v1", "deployment: v2"))

    def pods(compiled: Compiled) -> list[Obj]:
        return [o["spec"]["template"] for o in compiled.objects if o["kind"] == "Deployment"]

    assert pods(before) == pods(after)

    def environment_of(compiled: Compiled, name: str) -> str | None:
        monitor = _one(_objects(compiled), "PodMonitor", name)
        (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
        found = [r["replacement"] for r in endpoint["relabelings"] if "replacement" in r]
        return found[0] if found else None

    assert (environment_of(before, "llm-v1"), environment_of(before, "llm-v2")) == (
        "production",
        None,
    )
    assert (environment_of(after, "llm-v1"), environment_of(after, "llm-v2")) == (
        None,
        "production",
    )


def test_a_server_it_does_not_know_gets_in_flight_and_replica_rules(tmp_path: Path) -> None:
    text = """\
    version: 1
    cluster: {name: c1, namespace: serving}
    models:
      asr:
        image: ghcr.io/example/asr:1.0
        metrics: {path: /stats, in_flight: [asr_active_streams]}
        deployments: {v1: {}}
        environments: {production: {deployment: v1}}
    auth: {public: true}
    """
    objects = _stack(tmp_path, text)
    (endpoint,) = _one(objects, "PodMonitor", "asr-v1")["spec"]["podMetricsEndpoints"]
    assert endpoint["path"] == "/stats"
    rules = _rules(_one(objects, "PrometheusRule", "asr"))
    assert [r["record"] for r in rules if "record" in r] == [
        INFLIGHT,
        INFLIGHT_AUTOSCALER,
        INFLIGHT_TARGET,
        REPLICAS_AVAILABLE,
        REPLICAS_DESIRED,
    ]
    assert rules[0]["expr"] == (
        "sum by (namespace, model, deployment, environment) "
        '({__name__=~"asr_active_streams",namespace="serving",model="asr"})'
    )
    alerts = {r["alert"] for r in rules if "alert" in r}
    assert "IacErrorRatioHigh" not in alerts
    assert "IacMetricsScrapeFailing" in alerts


def test_deployments_declaring_other_metrics_get_their_own_rules(tmp_path: Path) -> None:
    text = ONE.replace("v1: {}", "v1: {}\n      v2: {metrics: {in_flight: [queue_depth]}}")
    rules = _rules(_one(_stack(tmp_path, text), "PrometheusRule", "llm"))
    inflight = [r["expr"] for r in rules if r.get("record") == INFLIGHT]
    assert inflight == [
        'sum by (namespace, model, deployment, environment) ({__name__=~"vllm:num_requests_running'
        '|vllm:num_requests_waiting",namespace="serving",model="llm",deployment=~"v1"})',
        "sum by (namespace, model, deployment, environment) "
        '({__name__=~"queue_depth",namespace="serving",model="llm",deployment=~"v2"})',
    ]
    errors = [r["expr"] for r in rules if r.get("alert") == "IacErrorRatioHigh"]
    assert errors == [
        f'{ERROR_RATIO}{{namespace="serving",model="llm",environment!="",deployment=~"v1"}} > 0.05'
    ]


def test_scale_bounds_that_cannot_move_raise_no_stuck_alert(tmp_path: Path) -> None:
    text = ONE.replace("min_replicas: 1, max_replicas: 4", "min_replicas: 2, max_replicas: 2")
    alerts = {r.get("alert") for r in _rules(_one(_stack(tmp_path, text), "PrometheusRule", "llm"))}
    assert "IacStuckAtMaxReplicas" not in alerts
    assert "IacColdStartOverBudget" in alerts


def test_a_model_without_active_deployments_has_no_monitoring(tmp_path: Path) -> None:
    old = "  old:\n    template: vllm\n    params: {hf_model: org/old}\n"
    old += "    deployments: {v0: {state: inactive}}\n"
    text = ONE.replace("v1: {}", "v1: {}\n      v0: {state: inactive}")
    text = text.replace("auth: {public: true}\n", old + "auth: {public: true}\n")
    names = {o["metadata"]["name"] for o in _stack(tmp_path, text)}
    assert not any(name.startswith("old") for name in names)
    assert "llm-v0" not in names
    assert "llm-v1" in names


# --- names ------------------------------------------------------------------------------------


def test_recorded_series_names_follow_the_convention() -> None:
    assert len(set(RECORDED)) == len(RECORDED)
    for name in RECORDED:
        assert RECORD_NAME.fullmatch(name), name
    assert INFLIGHT == "iac:inflight_requests:sum"


def test_dashboard_uid_is_stable_unique_and_short() -> None:
    long_model = "m" * 63
    uid = dashboard_uid("cluster-with-a-long-name", long_model)
    assert len(uid) <= MAX_UID
    assert uid == dashboard_uid("cluster-with-a-long-name", long_model)
    assert uid != dashboard_uid("cluster-with-a-long-name", "m" * 62)
    assert dashboard_uid("demo-us-east", "llama-3-8b") == "iac-demo-us-east-llama-3-8b"
    assert re.fullmatch(r"[a-z0-9-]+", uid)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (45, "45s"), (90, "1m30s"), (600, "10m"), (2400, "40m"), (5400, "1h30m")],
)
def test_prom_duration(seconds: int, text: str) -> None:
    assert prom_duration(seconds) == text
    assert PROM_DURATION.fullmatch(text)
