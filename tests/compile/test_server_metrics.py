"""The bundled vLLM template pins a server version that exposes every series iac reads.

The recording rules, alerts, dashboards and the ScaledObject's query name vLLM's metrics
(`iac.compile.monitoring.servers.VLLM`); a template pinning an image that lacks one gets
silent rules (no error ratio, no latency). The metrics of the pinned release are listed, from
its source, in tests/server_metrics/vllm-<tag>.yaml.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from iac.compile import compile_stack
from iac.compile.monitoring.servers import VLLM
from iac.validate import check_stack

ROOT = Path(__file__).resolve().parents[2]
LISTS = Path(__file__).parents[1] / "server_metrics"
TEMPLATE = yaml.safe_load((ROOT / "modules" / "vllm.yaml").read_text())["templates"]["vllm"]
STARTER = ROOT / "examples" / "01-single-model"
"""A stack that runs the template as it is (no image of its own)."""

_SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{")
_NAME_MATCH = re.compile(r'__name__=~"([^"]+)"')
_NOT_THE_SERVERS = ("iac:", "kube_")
"""iac's own recorded series and kube-state-metrics'."""


def exposed(metrics: dict[str, str]) -> set[str]:
    """The sample names prometheus_client exposes for metric families of these types."""
    names: set[str] = set()
    for family, kind in metrics.items():
        if kind == "counter":
            names.add(family.removesuffix("_total") + "_total")
        elif kind == "histogram":
            names |= {f"{family}_bucket", f"{family}_count", f"{family}_sum"}
        elif kind == "summary":
            names |= {f"{family}_count", f"{family}_sum"}
        else:
            assert kind == "gauge", (family, kind)
            names.add(family)
    return names


def pinned_tag() -> str:
    image = TEMPLATE["image"]
    repository, _, tag = image.rpartition(":")
    assert repository == "vllm/vllm-openai", image
    assert tag, image
    return str(tag)


def _strings(value: Any, keys: tuple[str, ...]) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key in keys and isinstance(item, str):
                yield item
            else:
                yield from _strings(item, keys)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item, keys)


def expressions(objects: list[dict[str, Any]]) -> Iterator[str]:
    """Every PromQL expression of the objects: rules, the ScaledObject's trigger query and the
    dashboards' panels (JSON inside their ConfigMaps)."""
    for obj in objects:
        if obj["kind"] == "ConfigMap":
            for text in obj.get("data", {}).values():
                if text.lstrip().startswith("{"):
                    yield from _strings(json.loads(text), ("expr",))
        else:
            yield from _strings(obj, ("expr", "query"))


def server_series(expression: str) -> set[str]:
    """Metric names an expression selects, other than iac's recorded series, kube-state-metrics'
    and Prometheus' own `up`."""
    names = set(_SELECTOR.findall(expression))
    for alternatives in _NAME_MATCH.findall(expression):
        names |= set(alternatives.split("|"))
    return {n for n in names if n != "up" and not n.startswith(_NOT_THE_SERVERS)}


def test_the_pinned_version_has_a_list_of_its_metrics() -> None:
    path = LISTS / f"vllm-{pinned_tag()}.yaml"
    assert path.is_file(), (
        f"modules/vllm.yaml pins vllm/vllm-openai:{pinned_tag()}: list that release's metrics "
        f"in {path.relative_to(ROOT)}, read from its source (see the list beside it)"
    )
    listed = yaml.safe_load(path.read_text())
    assert listed["server"] == "vllm"
    assert listed["version"] == pinned_tag()
    assert all(
        f"/blob/{pinned_tag()}/" in source["url"]
        for source in listed["sources"]
        if "vllm-project/vllm" in source["url"]
    )


def test_every_vllm_series_the_objects_read_is_exposed_by_the_pinned_version() -> None:
    listed = yaml.safe_load((LISTS / f"vllm-{pinned_tag()}.yaml").read_text())
    available = exposed(listed["metrics"])
    objects = list(compile_stack(check_stack(str(STARTER))).objects)
    images = {
        c["image"]
        for o in objects
        if o["kind"] == "Deployment" and o["metadata"]["name"].startswith("llama-3-8b")
        for c in o["spec"]["template"]["spec"]["containers"]
    }
    assert images == {TEMPLATE["image"]}, "the stack must run the template's own image"

    used: set[str] = set()
    for expression in expressions(objects):
        used |= server_series(expression)
    # What the rules are built from is all there (the extraction found the server's names).
    expected = {*TEMPLATE["metrics"]["in_flight"], VLLM.requests, VLLM.errors[0], VLLM.errors[2]}
    expected |= {metric for histogram in VLLM.histograms for metric in histogram.metrics}
    assert used == expected

    # A histogram that a release renamed is read under its current name, else an older one:
    # the pinned version needs one of them; the others are there for older images.
    older = set()
    for histogram in VLLM.histograms:
        present = [m for m in histogram.metrics if m in available]
        assert present, f"{histogram.title}: none of {histogram.metrics} in vLLM {pinned_tag()}"
        older |= set(histogram.metrics) - set(present)
    missing = sorted(used - older - available)
    assert not missing, f"vLLM {pinned_tag()} does not expose {missing}"


@pytest.mark.parametrize(
    ("metrics", "names"),
    [
        ({"vllm:request_success": "counter"}, {"vllm:request_success_total"}),
        ({"http_requests_total": "counter"}, {"http_requests_total"}),
        ({"vllm:num_requests_running": "gauge"}, {"vllm:num_requests_running"}),
        ({"h": "histogram"}, {"h_bucket", "h_count", "h_sum"}),
        ({"s": "summary"}, {"s_count", "s_sum"}),
    ],
)
def test_exposed_names_follow_prometheus_client(metrics: dict[str, str], names: set[str]) -> None:
    assert exposed(metrics) == names


def test_series_are_read_from_selectors_and_name_matchers() -> None:
    expression = (
        'sum({__name__=~"vllm:a|vllm:b",namespace="m"}) + rate(http_requests_total{x="1"}[5m])'
        ' + iac:requests:rate5m{a="b"} + up{a="b"} + kube_pod_status_ready{a="b"}'
    )
    assert server_series(expression) == {"vllm:a", "vllm:b", "http_requests_total"}
