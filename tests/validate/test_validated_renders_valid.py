"""What passes `iac validate` renders objects the API server accepts (issue #21, the general
guard): every object of generated stacks, of the examples and of the bad-input corpus's
valid neighbours (tests/cases/valid) validates offline against its schema or CRD
(`iac.object_validation`), int32 and int64 ranges included.

The stacks are generated with random names (up to the length each may have), sizes (up to
the int32 maxima) and settings: provisioners, pools, accelerators, splits, rolling
promotions, warm capacity, schedules, environment values. A value `iac validate` accepts but
the API server would refuse fails here, with the stack that shows it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iac.catalog import catalog
from iac.cli.validate import _check_cloud_resources
from iac.compile import compile_stack
from iac.diagnostics import Diagnostics
from iac.errors import StackInvalid
from iac.policy import check_with_policies
from iac.spec.types import INT32_MAX
from tests.support.compile_helpers import object_validator

ROOT = Path(__file__).resolve().parents[2]

_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _label(max_size: int, first: str = _LETTERS) -> st.SearchStrategy[str]:
    """A DNS-1123 label (DNS-1035 when `first` holds letters only) of up to `max_size`."""
    middle = st.text(_LETTERS + "0123456789-", max_size=max(0, max_size - 2))
    last = st.sampled_from(_LETTERS + "0123456789")
    return st.builds(
        lambda a, m, z, short: a if short else a + m + z,
        st.sampled_from(first),
        middle,
        last,
        st.booleans(),
    )


_counts = st.one_of(
    st.integers(1, 8),
    st.integers(1, INT32_MAX),
    st.sampled_from([1, 150_000, INT32_MAX, INT32_MAX + 1]),
    st.integers(1, 2**40),  # past what the fields hold: `iac validate` must refuse these
)
_images = st.sampled_from(
    [
        "vllm/vllm-openai:v0.6.3",
        "ghcr.io/huggingface/text-embeddings-inference:1.5",
        "registry.internal:5000/team/server_x:1.0-rc.1",
        "nvcr.io/nvidia/tritonserver:24.08-py3@sha256:" + "0123456789abcdef" * 4,
        "localhost/server",
    ]
)
_env = st.dictionaries(
    st.from_regex(r"[A-Z][A-Z0-9_]{0,30}", fullmatch=True),
    st.one_of(
        st.text(max_size=40),
        st.integers(-(2**40), 2**40),
        st.floats(allow_nan=False, allow_infinity=False, width=32),
    ),
    max_size=4,
)
_durations = st.one_of(st.integers(0, 3600), st.sampled_from(["90s", "15m", "1h"]))
_domains = (
    st.lists(_label(63, _LETTERS), min_size=2, max_size=6)
    .map(".".join)
    .filter(lambda name: len(name) <= 253)
)
_accelerators = st.sampled_from(["L4", "T4", "A100", "H100", "H100_40GB", "A10G"])


@st.composite
def _resources(draw: st.DrawFn, pools: dict[str, dict[str, Any]]) -> dict[str, Any]:
    resources: dict[str, Any] = {
        "cpu": draw(st.sampled_from(["500m", "1", "4", "8", 16, 0.5])),
        "memory": draw(st.sampled_from(["512Mi", "2Gi", "16Gi", "64Gi", "1Ti"])),
    }
    if draw(st.booleans()):
        kind = draw(_accelerators)
        most = catalog().accelerators[kind].max_per_node
        count = draw(st.integers(1, most))
        resources["accelerator"] = kind if count == 1 else f"{kind}:{count}"
        named = [n for n, p in pools.items() if p["accelerator"] == kind]
        if named and draw(st.booleans()):
            resources["node_pool"] = draw(st.sampled_from(named))
    return resources


@st.composite
def _autoscaling(draw: st.DrawFn) -> dict[str, Any]:
    high = draw(_counts)
    scaling: dict[str, Any] = {
        "min_replicas": draw(st.integers(0, min(high, 3)) | st.just(high)),
        "max_replicas": high,
        "concurrency_target": draw(_counts),
        "target_utilization": draw(st.integers(1, 100)),
        "scale_down_delay": draw(_durations),
        "max_scale_down_rate": draw(st.integers(1, 50)),
    }
    if draw(st.booleans()):
        scaling["schedules"] = [
            {"start": "0 8 * * 1-5", "end": "0 20 * * 1-5", "min_replicas": draw(_counts)}
        ]
    return scaling


@st.composite
def _model(draw: st.DrawFn, pools: dict[str, dict[str, Any]]) -> dict[str, Any]:
    deployments = draw(st.lists(_label(63), min_size=1, max_size=3, unique=True))
    model: dict[str, Any] = {
        "image": draw(_images),
        "port": draw(st.integers(1, 65535)),
        "resources": draw(_resources(pools)),
        "env": draw(_env),
        "deployments": {name: {} for name in deployments},
    }
    if draw(st.booleans()):
        model["hostname"] = draw(_domains)
    if draw(st.booleans()):
        model["run_as_user"] = draw(st.integers(1, INT32_MAX))
    if draw(st.booleans()):
        model["metrics"] = {"in_flight": ["inflight"]}
    environments: dict[str, Any] = {}
    for index, env_name in enumerate(draw(st.lists(_label(63), max_size=2, unique=True))):
        if index >= len(deployments):
            break
        env: dict[str, Any] = {"autoscaling": draw(_autoscaling())}
        if index == len(deployments) - 2 and draw(st.booleans()):
            weight = draw(st.integers(0, 100))
            env["traffic"] = {deployments[index]: weight, deployments[index + 1]: 100 - weight}
        else:
            env["deployment"] = deployments[index]
        if draw(st.booleans()):
            env["promotion"] = {
                "strategy": "rolling",
                "max_surge_percent": draw(st.integers(1, 50)),
            }
        if draw(st.booleans()):
            env["warm"] = {"replicas": draw(_counts)}
        environments[env_name] = env
        if "traffic" in env:
            break
    if environments:
        model["environments"] = environments
    bound = {
        d for env in environments.values() for d in env.get("traffic", [env.get("deployment")])
    }
    for name in deployments:
        if name not in bound:  # what serves no environment may be inactive, or development
            model["deployments"][name] = draw(
                st.sampled_from(
                    [{}, {"state": "inactive"}, {"kind": "development"}, {"port": 9000}]
                )
            )
    return model


@st.composite
def stacks(draw: st.DrawFn) -> dict[str, Any]:
    provisioner = draw(st.sampled_from(["existing", "karpenter", "gke"]))
    cluster: dict[str, Any] = {
        "name": draw(_label(63)),
        "namespace": draw(_label(63)),
        "provisioner": provisioner,
        "network_policy": draw(st.booleans()),
        "monitoring": draw(st.booleans()),
        "prepull_images": draw(st.booleans()),
    }
    if provisioner == "gke":
        cluster["gke"] = {"cluster": "k", "location": "us-central1"}
    if draw(st.booleans()):
        cluster["domain"] = draw(_domains)
        cluster["endpoints"] = draw(st.sampled_from(["host", "path"]))
    pools: dict[str, dict[str, Any]] = {}
    # Pool names up to the longest each provisioner takes (GKE: 40 characters), so the names
    # derived from them (pre-pull, warm capacity) are exercised at their limits too.
    longest = 40 if provisioner == "gke" else 63
    for name in draw(st.lists(_label(longest, _LETTERS), max_size=2, unique=True)):
        pool: dict[str, Any] = {"accelerator": draw(_accelerators)}
        if draw(st.booleans()):
            pool["max_gpus"] = draw(_counts)
        if draw(st.booleans()):
            pool["capacity_type"] = "spot"
        if draw(st.booleans()):
            pool["warm"] = draw(st.sampled_from([{"nodes": 1}, {"replicas": 2}, {"nodes": 3}]))
        pools[name] = pool
    names = draw(st.lists(_label(63, _LETTERS), min_size=1, max_size=3, unique=True))
    stack: dict[str, Any] = {
        "version": 1,
        "cluster": cluster,
        "policies": {"resources_declared": {"enabled": False}},
        "models": {name: draw(_model(pools)) for name in names},
    }
    if pools:
        stack["node_pools"] = pools
    return stack


def rendered_problems(path: Path) -> list[str] | None:
    """The offline validation problems of what the stack renders; None when it is invalid."""
    diagnostics = Diagnostics()
    try:
        stack, release = check_with_policies(str(path), diagnostics)
        _check_cloud_resources(stack, release, diagnostics)
        compiled = compile_stack(stack, diagnostics)
    except StackInvalid:
        return None
    problems = [problem for obj in compiled.objects for problem in object_validator().problems(obj)]
    for declaration in compiled.cloud:  # GKE node pools: int32 node counts (GKE's API)
        nodes = declaration["properties"]["autoscaling"]["totalMaxNodeCount"]
        if not 1 <= nodes <= INT32_MAX:
            problems.append(f"{declaration['name']}: totalMaxNodeCount {nodes} is not an int32")
    return problems


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(stacks())
def test_a_generated_stack_that_validates_renders_valid_objects(stack: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "stack.yaml"
        path.write_text(yaml.safe_dump(stack, sort_keys=False), encoding="utf-8")
        problems = rendered_problems(path)
    assert not problems, "\n".join([yaml.safe_dump(stack, sort_keys=False), *problems])


@pytest.mark.parametrize(
    "path",
    sorted((ROOT / "tests" / "cases" / "valid").glob("*/stack.yaml"))
    + sorted((ROOT / "examples").glob("*/stack.yaml"))
    + sorted((ROOT / "stacks").glob("*.yaml")),
    ids=lambda p: p.parent.name if p.name == "stack.yaml" else p.stem,
)
def test_a_valid_stack_renders_valid_objects(path: Path) -> None:
    assert rendered_problems(path) == []
