"""Drift (iac.preflight.drift): declared fields compared with the objects the API server
returns, with what it defaults and what controllers add left alone."""

from __future__ import annotations

import copy
from typing import Any

from iac.compile import compile_stack
from iac.compile.quantity import memory_bytes
from iac.diagnostics import Severity
from iac.diff.findings import Finding
from iac.diff.plan import make_plan
from iac.diff.report import to_text
from iac.preflight import drift_findings, find_drift
from iac.preflight.drift import resource_name
from iac.validate import check_stack
from tests.support.compile_helpers import ROOT


class Cluster:
    """Answers `get` with the given live objects, keyed as kubectl names them."""

    def __init__(self, objects: list[dict[str, Any]]) -> None:
        self.objects = {
            (resource_name(o), o["metadata"]["name"], o["metadata"].get("namespace")): o
            for o in objects
        }

    def api_groups(self) -> dict[str, list[str]]:
        raise NotImplementedError

    def kinds(self, group_version: str) -> list[str]:
        raise NotImplementedError

    def names(self, resource: str, namespace: str | None = None) -> set[str]:
        raise NotImplementedError

    def get(self, resource: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        return self.objects.get((resource, name, namespace))


def example() -> list[dict[str, Any]]:
    return compile_stack(check_stack(str(ROOT / "examples/04-traffic-split/stack.yaml"))).objects


def as_served(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The objects as the API server returns them: defaults, controller fields, status."""
    served = copy.deepcopy(objects)
    for obj in served:
        obj["metadata"].update(uid="1234", resourceVersion="42", managedFields=[{}])
        obj["metadata"].setdefault("labels", {})["added-by-someone"] = "x"
        obj["status"] = {"observedGeneration": 1}
        if obj["kind"] == "Deployment":
            obj["spec"].setdefault("replicas", 3)  # KEDA's, where iac declares none
            obj["spec"]["template"]["spec"].setdefault("dnsPolicy", "ClusterFirst")
            container = obj["spec"]["template"]["spec"]["containers"][0]
            container["terminationMessagePolicy"] = "File"
            requests = container["resources"]["requests"]
            # The same quantity, spelled otherwise.
            requests["memory"] = f"{memory_bytes(requests['memory']) // 2**20}Mi"
    return served


def test_the_objects_as_served_have_no_drift() -> None:
    objects = example()
    assert find_drift(objects, Cluster(as_served(objects))) == []


def test_each_declared_field_changed_by_hand_is_one_finding() -> None:
    objects = example()
    served = as_served(objects)
    route = next(o for o in served if o["kind"] == "HTTPRoute")
    index, rule = next(
        (i, r) for i, r in enumerate(route["spec"]["rules"]) if len(r.get("backendRefs", [])) == 2
    )
    rule["backendRefs"][0]["weight"] = 50
    deployment = next(o for o in served if o["kind"] == "Deployment")
    del deployment["spec"]["template"]["spec"]["containers"][0]["args"][0]
    name = deployment["metadata"]["name"]
    served.remove(next(o for o in served if o["kind"] == "Service"))

    found = drift_findings(find_drift(objects, Cluster(served)))
    assert [(f.id, f.level) for f in found] == [("drift", "warning")] * 3
    messages = [f.message for f in found]
    service = next(o for o in objects if o["kind"] == "Service")["metadata"]["name"]
    assert messages[1].startswith(
        f"Deployment models/{name}: spec.template.spec.containers[0].args is ['--port=8000'"
    )
    assert messages[1].endswith(" (changed by hand?); the next `iac up` restores it")
    assert messages[0] == (
        f"Service models/{service} is declared but not on the cluster (deleted by hand?); "
        "the next `iac up` creates it again"
    )
    assert messages[2] == (
        f"HTTPRoute models/mistral-7b: spec.rules[{index}].backendRefs[0].weight is 50 on "
        "the cluster, declared 90 (changed by hand?); the next `iac up` restores it"
    )
    assert found[2].to_dict()["model"] == "mistral-7b"


def test_a_declared_replica_count_scaled_by_hand_is_drift() -> None:
    objects = compile_stack(
        check_stack(str(ROOT / "examples/03-environments-and-promotion/stack.yaml"))
    ).objects
    served = as_served(objects)
    inactive = next(
        o for o in served if o["kind"] == "Deployment" and o["spec"].get("replicas") == 0
    )
    inactive["spec"]["replicas"] = 2
    [drift] = find_drift(objects, Cluster(served))
    assert (drift.field, drift.declared, drift.live) == ("spec.replicas", 0, 2)
    assert drift.deployment == "v2"


def test_a_plan_with_drift_only_is_a_change() -> None:
    """`iac plan --detailed-exitcode` exits 2 and does not say "No changes": the next
    `iac up` restores what was changed by hand."""
    compiled = compile_stack(check_stack(str(ROOT / "stacks" / "demo.yaml")))
    assert not make_plan(compiled, compiled).changed
    drift = Finding(
        "drift", Severity.WARNING, "Deployment models/x: spec.replicas is 2 on the cluster"
    )
    plan = make_plan(compiled, compiled, base_findings=[drift])
    assert plan.changed
    assert "No changes." not in to_text(plan, "iac plan")
