"""`iac status` against recorded API responses (the objects iac applied, with the status the
API server adds)."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from iac.compile import compile_stack
from iac.errors import IacError
from iac.reports import formatted
from iac.status import Kubectl, StatusReport, read_status, to_json, to_text
from iac.validate import check_stack
from tests.support.compile_helpers import ROOT
from tests.support.recorded_kubectl import KIND_OF, Recorded


def demo() -> tuple[Any, list[dict[str, Any]]]:
    stack = check_stack(str(ROOT / "stacks" / "demo.yaml"))
    return stack, compile_stack(stack).objects


def test_status_reads_routes_replicas_and_rollouts() -> None:
    stack, objects = demo()
    recorded = Recorded(
        objects,
        {
            "llama-3-8b-v3": {
                "replicas": 3,
                "readyReplicas": 2,
                "conditions": [
                    {"type": "Available", "status": "True"},
                    {
                        "type": "Progressing",
                        "status": "True",
                        "lastUpdateTime": "2026-11-27T01:02:03Z",
                    },
                ],
            },
            "llama-3-8b-v4": {"replicas": 0},
            "bge-large-v1": {"replicas": 1, "readyReplicas": 1},
        },
    )
    statuses = read_status(
        stack, recorded, metric=lambda query: 12.0 if "inflight" in query else 0.0
    )
    assert to_text(statuses) == (
        "bge-large / production  https://bge-large.models.example.com/environments/production/\n"
        "  v1: 1/1 ready, scales 0..4\n"
        "  in_flight 12, requests_per_second 0, error_ratio 0\n"
        "llama-3-8b / production  https://llama-3-8b.models.example.com/environments/production/\n"
        "  v3: 2/3 ready, scales 2..8, last rollout 2026-11-27T01:02:03Z\n"
        "  in_flight 12, requests_per_second 0, error_ratio 0\n"
        "llama-3-8b / staging  https://llama-3-8b.models.example.com/environments/staging/\n"
        "  v4: 0/0 ready, scales 0..2\n"
        "  in_flight 12, requests_per_second 0, error_ratio 0\n"
    )
    assert recorded.calls == [(kind, "models") for kind in KIND_OF]
    data = json.loads(to_json(statuses))
    assert [d["drift"] for d in data] == [False, False, False]


def test_a_split_shows_weights_and_drift_from_the_stack_file() -> None:
    stack, objects = demo()
    for obj in objects:
        if obj["kind"] == "HTTPRoute" and obj["metadata"]["name"] == "llama-3-8b":
            rule = next(
                r
                for r in obj["spec"]["rules"]
                if r["matches"][0]["path"]["value"] == "/environments/production"
            )
            rule["backendRefs"] = [
                {"name": "llama-3-8b-v3", "port": 8000, "weight": 90},
                {"name": "llama-3-8b-v4", "port": 8000, "weight": 10},
            ]
    statuses = read_status(stack, Recorded(objects, {}))
    production = next(
        s for s in statuses if (s.model, s.environment) == ("llama-3-8b", "production")
    )
    assert production.drift
    assert (
        "llama-3-8b / production  https://llama-3-8b.models.example.com/environments/production/"
        "  (cluster differs from the stack file: not applied yet?)" in to_text(statuses)
    )
    assert "  v3 90%: 0/0 ready, scales 2..8" in to_text(statuses)


def test_kubectl_errors_are_clear() -> None:
    def missing(*args: Any, **kwargs: Any) -> Any:
        raise FileNotFoundError

    with pytest.raises(IacError, match="reads the cluster with kubectl"):
        Kubectl(run=missing).list("deployments.apps", "models")

    def refused(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        assert command == [
            "kubectl",
            "get",
            "deployments.apps",
            "-n",
            "models",
            "-o",
            "json",
            "--context",
            "prod",
        ]
        return subprocess.CompletedProcess(
            command, 1, "", "error: You must be logged in to the server\n"
        )

    with pytest.raises(IacError, match="You must be logged in"):
        Kubectl("prod", run=refused).list("deployments.apps", "models")


def test_routes_with_models_on_one_host_are_read_below_their_prefix(tmp_path: Any) -> None:
    """`endpoints: path`: the routes' paths are `/models/<model>/environments/<env>`."""
    text = (ROOT / "stacks" / "demo.yaml").read_text()
    path = tmp_path / "stack.yaml"
    path.write_text(
        text.replace(
            "  domain: models.example.com\n", "  domain: models.example.com\n  endpoints: path\n"
        ).replace("../modules/", str(ROOT / "modules") + "/")
    )
    stack = check_stack(str(path))
    statuses = read_status(stack, Recorded(compile_stack(stack).objects, {}))
    assert [(s.model, s.environment, s.url, s.drift) for s in statuses] == [
        ("bge-large", "production",
         "https://models.example.com/models/bge-large/environments/production/", False),
        ("llama-3-8b", "production",
         "https://models.example.com/models/llama-3-8b/environments/production/", False),
        ("llama-3-8b", "staging",
         "https://models.example.com/models/llama-3-8b/environments/staging/", False),
    ]  # fmt: skip
    assert [[d.name for d in s.live] for s in statuses] == [["v1"], ["v3"], ["v4"]]


def test_desired_is_what_the_deployment_asks_for_not_the_pods_of_a_rollout() -> None:
    """Mid-rollout, `status.replicas` also counts the surge pod of the new ReplicaSet (and
    pods still terminating): 3 asked for, 4 pods, 3 ready is 3/3, not 3/4."""
    stack, objects = demo()
    for obj in objects:
        if obj["kind"] == "Deployment" and obj["metadata"]["name"] == "llama-3-8b-v3":
            obj["spec"]["replicas"] = 3  # as KEDA set it
    statuses = read_status(
        stack, Recorded(objects, {"llama-3-8b-v3": {"replicas": 4, "readyReplicas": 3}})
    )
    production = next(
        s for s in statuses if (s.model, s.environment) == ("llama-3-8b", "production")
    )
    assert [(d.ready, d.desired) for d in production.live] == [(3, 3)]


def test_markdown_is_a_table_of_each_routed_deployment() -> None:
    stack, objects = demo()
    statuses = read_status(stack, Recorded(objects, {}))
    table = formatted(StatusReport(statuses), "markdown")
    lines = table.splitlines()
    assert lines[0] == "| model | environment | URL | deployment | weight | ready / desired | |"
    assert (
        "| llama-3-8b | production | <https://llama-3-8b.models.example.com/environments/"
        "production/> | v3 | 100% | 0 / 0 | |" in lines
    )
    assert len(lines) == 2 + sum(max(1, len(s.live)) for s in statuses)
    assert formatted(StatusReport(statuses), "json") == to_json(statuses)
    assert formatted(StatusReport(statuses), "text") == to_text(statuses)
