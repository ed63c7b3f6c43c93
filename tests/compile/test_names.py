"""Every object exactly once, every name valid (issue #21 item 2): the names the compiler
makes are valid DNS-1123 labels of at most 63 characters, hashed when long; iac's own names
never coincide; a name two declarations' objects would share is a located error, found by
`iac validate` as by `iac render`."""

from __future__ import annotations

import re
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from iac.cli import cli
from iac.compile import Compiled, compile_stack
from iac.compile.identities import declared_objects
from iac.compile.names import distinct_names, identity, object_name
from iac.diagnostics import Diagnostics
from iac.errors import StackInvalid
from iac.policy import check_with_policies
from iac.validate import check_stack
from tests.support.compile_helpers import ROOT, compile_text, find, object_validator

KARPENTER = "version: 1\ncluster: {name: c, provisioner: karpenter}\n"
EXISTING = "version: 1\ncluster: {name: c}\n"
LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def named(compiled: Compiled, kind: str) -> list[str]:
    return sorted(o["metadata"]["name"] for o in compiled.objects if o["kind"] == kind)


def errors(tmp_path: Path, text: str) -> list[str]:
    """The errors of compiling `text`, each `KEY.PATH: MESSAGE`; `iac validate` must give
    the same ones."""
    path = tmp_path / "stack.yaml"
    path.write_text(text)
    with pytest.raises(StackInvalid) as compiled:
        compile_stack(check_stack(str(path), Diagnostics()), Diagnostics())
    with pytest.raises(StackInvalid) as validated:
        check_with_policies(str(path), Diagnostics())
    found = [
        str(d).split(": error: ")[1] for d in compiled.value.diagnostics if d.severity == "error"
    ]
    assert found == [
        str(d).split(": error: ")[1] for d in validated.value.diagnostics if d.severity == "error"
    ]
    return found


# --- the naming function ------------------------------------------------------------------


def test_names_that_fit_are_kept_and_long_ones_end_in_a_hash() -> None:
    assert object_name("llama-3-8b", "v3") == "llama-3-8b-v3"
    fits = "a" * 63
    assert object_name(fits) == fits
    long = object_name("iac-prepull", "gpu-h100-spot-us-east-1a-team-inference-platformxx-b")
    assert long == "iac-prepull-gpu-h100-spot-us-east-1a-team-inference-pl-d7fbad43"
    assert len(long) == 63
    # The cut never ends a name on '-': 54 characters before the hash end in one here.
    cut = object_name("x" * 53 + "-" + "y" * 20)
    assert LABEL.fullmatch(cut)
    assert len(cut) <= 63
    assert cut.startswith("x" * 53 + "-")
    assert "--" not in cut


def test_distinct_names_hash_only_the_names_two_keys_share() -> None:
    names = distinct_names(
        {
            ("pool", "gpu", "replicas"): ("pool", "gpu", "replicas"),
            ("pool", "gpu-replicas", "nodes"): ("pool", "gpu-replicas"),
            ("pool", "h100", "nodes"): ("pool", "h100"),
        },
        limit=54,
    )
    assert names[("pool", "h100", "nodes")] == "pool-h100"
    shared = [names[("pool", "gpu", "replicas")], names[("pool", "gpu-replicas", "nodes")]]
    assert shared[0] != shared[1]
    assert all(re.fullmatch(r"pool-gpu-replicas-[0-9a-f]{8}", name) for name in shared)


# --- the three collisions ----------------------------------------------------------


def test_prepull_daemonsets_of_pools_alike_for_63_characters_are_two() -> None:
    # `p` x 63 and `p` x 60 + `-zz` were both `iac-prepull-ppp...p`: one overwrote the other.
    with tempfile.TemporaryDirectory() as tmp:
        compiled = compile_text(
            Path(tmp),
            KARPENTER
            + f"""\
node_pools:
  {"p" * 63}: {{accelerator: H100}}
  {"p" * 60}-zz: {{accelerator: H100}}
models:
  a: {{image: "x:1", resources: {{accelerator: H100, node_pool: {"p" * 63}, cpu: "4", memory: 16Gi}}, deployments: {{v1: {{}}}}}}
  b: {{image: "y:1", resources: {{accelerator: H100, node_pool: {"p" * 60}-zz, cpu: "4", memory: 16Gi}}, deployments: {{v1: {{}}}}}}
auth: {{public: true}}
""",
        )
    daemonsets = [o for o in compiled.objects if o["kind"] == "DaemonSet"]
    assert len({o["metadata"]["name"] for o in daemonsets}) == 2
    for daemonset in daemonsets:
        name = daemonset["metadata"]["name"]
        assert len(name) == 63
        assert LABEL.fullmatch(name)
        assert name.startswith("iac-prepull-" + "p" * 42)
    images = {
        o["spec"]["selector"]["matchLabels"]["iac.dev/prepull"]: o["spec"]["template"]["spec"][
            "initContainers"
        ][0]["image"]
        for o in daemonsets
    }
    assert images == {"p" * 63: "x:1", "p" * 60 + "-zz": "y:1"}


def test_a_long_pool_name_cut_on_a_dash_gives_a_valid_daemonset_name(tmp_path: Path) -> None:
    pool = "gpu-h100-spot-us-east-1a-team-inference-platformxx-b"
    compiled = compile_text(
        tmp_path,
        KARPENTER
        + f"""\
node_pools:
  {pool}: {{accelerator: H100}}
models:
  a: {{image: "x:1", resources: {{accelerator: H100, cpu: "4", memory: 16Gi}}, deployments: {{v1: {{}}}}}}
auth: {{public: true}}
""",
    )
    # Was `iac-prepull-...-platformxx-`, which the API server refuses.
    assert named(compiled, "DaemonSet") == [
        "iac-prepull-gpu-h100-spot-us-east-1a-team-inference-pl-d7fbad43"
    ]


def test_warm_nodes_of_pool_gpu_replicas_and_warm_replicas_of_pool_gpu_are_apart(
    tmp_path: Path,
) -> None:
    compiled = compile_text(
        tmp_path,
        KARPENTER
        + """\
node_pools:
  gpu: {accelerator: H100, warm: {replicas: 1}}
  gpu-replicas: {accelerator: H100, warm: {nodes: 2}}
models:
  a: {image: "x:1", resources: {accelerator: H100, node_pool: gpu, cpu: "4", memory: 16Gi}, deployments: {v1: {}}}
auth: {public: true}
""",
    )
    # Both were `iac-warm-pool-gpu-replicas`: one PodTemplate and CapacityBuffer for two.
    names = named(compiled, "CapacityBuffer")
    assert names == named(compiled, "PodTemplate")
    assert len(names) == 2
    assert all(re.fullmatch(r"iac-warm-pool-gpu-replicas-[0-9a-f]{8}", n) for n in names)
    by_pool = {}
    for name in names:
        buffer = find(compiled, "CapacityBuffer", name)
        template = find(compiled, "PodTemplate", name)["template"]
        by_pool[template["spec"]["nodeSelector"]["iac.dev/node-pool"]] = buffer["spec"]["replicas"]
        assert template["metadata"]["labels"]["iac.dev/warm-capacity"] == name.removeprefix(
            "iac-warm-"
        )
    assert by_pool == {"gpu": 1, "gpu-replicas": 2}


def test_warm_nodes_and_replicas_of_one_long_pool_are_apart(tmp_path: Path) -> None:
    # 49 characters and more: `iac-warm-pool-<pool>` and `...-replicas` were both cut to 63.
    pool = "g" + "p" * 48
    compiled = compile_text(
        tmp_path,
        EXISTING
        + f"""\
node_pools:
  {pool}: {{accelerator: H100, labels: {{team: a}}, warm: {{nodes: 1, replicas: 2}}}}
models:
  a: {{image: "x:1", resources: {{accelerator: H100, cpu: "4", memory: 16Gi}}, deployments: {{v1: {{}}}}}}
auth: {{public: true}}
""",
    )
    placeholders = [n for n in named(compiled, "Deployment") if n.startswith("iac-warm-")]
    assert len(placeholders) == 2
    selectors = {
        find(compiled, "Deployment", n)["spec"]["selector"]["matchLabels"]["iac.dev/warm-capacity"]
        for n in placeholders
    }
    assert len(selectors) == 2


def test_names_that_fit_are_as_before(tmp_path: Path) -> None:
    """Renaming a live object makes Pulumi replace it: names that fit 63 characters do not
    change; only those that were cut do."""
    images = "g" * 51  # `iac-prepull-` + 51 = 63
    warm = "w" * 49  # `iac-warm-pool-` + 49 = 63
    compiled = compile_text(
        tmp_path,
        KARPENTER
        + f"""\
node_pools:
  {images}: {{accelerator: H100}}
  {warm}: {{accelerator: H100, warm: {{nodes: 1}}}}
  h100: {{accelerator: L4, warm: {{nodes: 1, replicas: 1}}}}
models:
  a: {{image: "x:1", resources: {{accelerator: H100, node_pool: {images}, cpu: "4", memory: 16Gi}}, deployments: {{v1: {{}}}}}}
  m:
    image: "x:1"
    resources: {{accelerator: L4, cpu: "4", memory: 16Gi}}
    deployments: {{v1: {{}}}}
    environments: {{production: {{deployment: v1, warm: {{replicas: 1}}}}}}
auth: {{public: true}}
""",
    )
    assert named(compiled, "DaemonSet") == [f"iac-prepull-{images}", "iac-prepull-h100"]
    assert named(compiled, "CapacityBuffer") == [
        "iac-warm-m-v1",
        "iac-warm-pool-h100",
        "iac-warm-pool-h100-replicas",
        f"iac-warm-pool-{warm}",
    ]


# --- names the stack's names make alike: located errors, in validate as in render ---------


def test_a_deployment_named_like_warm_placeholders_is_an_error(tmp_path: Path) -> None:
    assert errors(
        tmp_path,
        EXISTING
        + """\
node_pools:
  gpu: {accelerator: L4, labels: {team: a}}
models:
  m:
    image: "x:1"
    resources: {accelerator: L4, cpu: "4", memory: 16Gi}
    deployments: {v1: {}}
    environments: {production: {deployment: v1, warm: {replicas: 1}}}
  iac:
    image: "x:1"
    deployments: {warm-m-v1: {}}
auth: {public: true}
""",
    ) == [
        "models.iac.deployments.warm-m-v1: objects of this deployment would be named "
        "'iac-warm-m-v1' (Deployment), like those of the warm capacity of environment "
        "'production' of model 'm' (line 10); rename one"
    ]


def test_a_model_named_like_another_models_second_route_is_an_error(tmp_path: Path) -> None:
    # 17 routed paths (one per active deployment): model `m` has HTTPRoutes `m` and `m-2`.
    deployments = ", ".join(f"d{i}: {{}}" for i in range(17))
    assert errors(
        tmp_path,
        EXISTING
        + f"""\
models:
  m: {{image: "x:1", deployments: {{{deployments}}}}}
  m-2: {{image: "x:1", deployments: {{v1: {{}}}}}}
auth: {{public: true}}
""",
    ) == [
        "models.m-2: objects of this model would be named 'm-2' (HTTPRoute), like those of "
        "model 'm' (line 4); rename one"
    ]


def test_a_declared_pool_with_the_name_of_a_derived_one_is_an_error(tmp_path: Path) -> None:
    # The H100 deployment was placed on the declared pool's L4 nodes.
    assert errors(
        tmp_path,
        KARPENTER
        + """\
node_pools:
  gpu-h100: {accelerator: L4}
models:
  a: {image: "x:1", resources: {accelerator: H100, cpu: "4", memory: 16Gi}, deployments: {v1: {}}}
auth: {public: true}
""",
    ) == [
        "models.a.resources.accelerator: no declared node pool has H100 nodes, and the name of "
        "the pool iac makes for them, 'gpu-h100', is taken by `node_pools.gpu-h100` (L4); "
        "declare a pool with `accelerator: H100`, or rename `node_pools.gpu-h100`"
    ]


def test_previous_names_that_would_collide_today_still_compile(tmp_path: Path) -> None:
    # Model `x` was `a-b`: its old objects' names are those of model `a`'s deployment `b-c`.
    # The compile that pairs old and new objects sees both; the stack itself is fine.
    compiled = compile_text(
        tmp_path,
        EXISTING
        + """\
models:
  x: {image: "x:1", previous_names: [a-b], deployments: {c: {}}}
  a: {image: "x:1", deployments: {b-c: {}}}
auth: {public: true}
""",
    )
    assert named(compiled, "Deployment") == ["a-b-c", "x-c"]


def test_iac_validate_reports_a_collision_where_it_is_written(tmp_path: Path) -> None:
    path = tmp_path / "stack.yaml"
    path.write_text(
        EXISTING
        + """\
models:
  a-b: {image: x, deployments: {c: {}}}
  a: {image: x, deployments: {b-c: {}}}
auth: {public: true}
"""
    )
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 1
    assert [line for line in result.stderr.splitlines() if ": error: " in line] == [
        f"{path}:5:31: error: models.a.deployments.b-c: objects of this deployment would be "
        "named 'a-b-c' (Service, Deployment, InterceptorRoute, ScaledObject), like those of "
        "deployment 'c' of model 'a-b' (line 4); rename one"
    ]


# --- the names `iac validate` foresees are the objects `iac render` makes ------------------


def identities(compiled: Compiled) -> Counter[tuple[str, str, str, str]]:
    return Counter(identity(o) for o in compiled.objects)


def declared(path: Path | str) -> tuple[Compiled, Counter[tuple[str, str, str, str]]]:
    stack = check_stack(str(path), Diagnostics())
    compiled = compile_stack(stack, Diagnostics())
    return compiled, Counter(found for found, _ in declared_objects(stack, compiled.release))


@pytest.mark.parametrize(
    "path",
    [
        *sorted(str(p) for p in (ROOT / "examples").glob("*/stack.yaml")),
        str(ROOT / "stacks/demo.yaml"),
    ],
)
def test_declared_objects_are_the_compiled_objects(path: str) -> None:
    compiled, foreseen = declared(path)
    assert foreseen == identities(compiled)


# --- random names up to the limits ----------------------------------------------------------

ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
GKE_POOL = re.compile(r"[a-z]([-a-z0-9]{0,38}[a-z0-9])?")


def dns_label(limit: int = 63, letter_first: bool = False) -> st.SearchStrategy[str]:
    """DNS-1123 labels of up to `limit` characters, long ones and several `-` included."""
    first = st.sampled_from(ALNUM[:26] if letter_first else ALNUM)
    segment = st.text(ALNUM, min_size=1, max_size=limit)
    return st.builds(
        lambda head, parts: (head + "-".join(parts))[:limit].rstrip("-"),
        first,
        st.lists(segment, min_size=0, max_size=5),
    )


def pool_names(limit: int) -> st.SearchStrategy[list[str]]:
    """Pool names, often alike in the ways that made one name of two: one a prefix of the
    other up to the cut, one the other plus `-replicas`, both past the limit."""

    @st.composite
    def draw(draw: st.DrawFn) -> list[str]:
        base = draw(dns_label(limit, letter_first=True))
        variants = [
            base,
            (base + "-replicas")[:limit].strip("-"),
            (base[: limit - 3] + "-zz").strip("-"),
            ("p" * limit),
            ("p" * (limit - 3) + "-zz"),
            base[: max(1, len(base) // 2)].strip("-"),
            "gpu",
            "gpu-replicas",
            "gpu-h100",  # the name of the pool iac derives for H100 deployments
        ]
        extra = draw(st.lists(dns_label(limit, letter_first=True), max_size=2))
        chosen = draw(st.lists(st.sampled_from(variants + extra), max_size=4, unique=True))
        return [n for n in chosen if n and LABEL.fullmatch(n)]

    return draw()


WORDS = ["iac", "pool", "gpu", "m", "m-2", "warm-pool-gpu", "pool-gpu-replicas"]


@st.composite
def random_stacks(draw: st.DrawFn) -> dict[str, Any]:
    provisioner = draw(st.sampled_from(["karpenter", "existing", "gke"]))
    cluster: dict[str, Any] = {"name": "c", "provisioner": provisioner}
    if provisioner == "gke":
        cluster["gke"] = {"cluster": "k", "location": "us-central1"}
    limit = 40 if provisioner == "gke" else 63
    pools: dict[str, Any] = {}
    for name in draw(pool_names(limit)):
        if provisioner == "gke" and not GKE_POOL.fullmatch(name):
            continue
        pool: dict[str, Any] = {"accelerator": draw(st.sampled_from(["H100", "L4"]))}
        if provisioner == "existing":
            pool["labels"] = {"team": "a"}
        warm = draw(
            st.fixed_dictionaries(
                {}, optional={"nodes": st.integers(1, 2), "replicas": st.integers(1, 2)}
            )
        )
        if warm:
            pool["warm"] = warm
        pools[name] = pool
    models: dict[str, Any] = {}
    names = draw(
        st.lists(
            st.one_of(st.sampled_from(WORDS), dns_label(letter_first=True)),
            min_size=1,
            max_size=3,
            unique=True,
        )
    )
    for model_name in names:
        accelerator = draw(st.sampled_from([None, "H100", "L4"]))
        resources: dict[str, Any] = {"cpu": "4", "memory": "16Gi"}
        if accelerator:
            resources["accelerator"] = accelerator
            fitting = sorted(n for n, p in pools.items() if p["accelerator"] == accelerator)
            pool = draw(st.sampled_from([None, *fitting]))
            if pool:
                resources["node_pool"] = pool
        deployments = draw(
            st.lists(
                st.one_of(st.sampled_from(WORDS), dns_label()), min_size=1, max_size=3, unique=True
            )
        )
        model: dict[str, Any] = {
            "image": "vllm/vllm-openai:v0.6.3",
            "resources": resources,
            "deployments": {d: {} for d in deployments},
        }
        environments = {}
        for env in draw(st.lists(dns_label(), max_size=2, unique=True)):
            environment: dict[str, Any] = {"deployment": draw(st.sampled_from(deployments))}
            if draw(st.booleans()):
                environment["warm"] = {"replicas": 1}
            environments[env] = environment
        served = [e["deployment"] for e in environments.values()]
        if len(served) == len(set(served)):  # a deployment serves one environment
            model["environments"] = environments
        models[model_name] = model
    if draw(st.integers(0, 5)) == 0:
        # Names that make one object name: `x-y` + `z` and `x` + `y-z`, or a deployment
        # named like a pool's warm placeholders.
        x = draw(dns_label(20, letter_first=True))
        y, z = draw(dns_label(20)), draw(dns_label(20))
        image = {"image": "x:1"}
        models.setdefault(f"{x}-{y}", {**image, "deployments": {z: {}}})
        models.setdefault(x, {**image, "deployments": {f"{y}-{z}": {}}})
        warm = [n for n, p in pools.items() if p.get("warm", {}).get("nodes")]
        if warm and len(warm[0]) <= 49:
            models.setdefault("iac", {**image, "deployments": {f"warm-pool-{warm[0]}": {}}})
    return {
        "version": 1,
        "cluster": cluster,
        "node_pools": pools,
        "models": models,
        "auth": {"public": True},
    }


# A name made of the stack's names (a model's, a deployment's) that another object has:
# never two names iac makes of a pool's name (warm placeholders, pre-pull DaemonSets).
_NAMED = r"would be named '[-a-z0-9]+' \([A-Za-z, ]+\), like those of"
COLLISION = re.compile(
    rf"objects of this (deployment|model) {_NAMED} (deployment|model|the warm capacity) "
    rf"|objects of this warm capacity {_NAMED} (deployment|model) "
    r"|the name of the pool iac makes for them, 'gpu-h100', is taken by `node_pools.gpu-h100`"
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_stacks())
def test_random_names_never_make_an_invalid_or_shared_name(data: dict[str, Any]) -> None:
    """Compiled names are valid for their kind and each object is there once, or the stack is
    refused: two of its own names make one object name (two deployments, a deployment and
    warm placeholders, a pool and the pool iac derives for an accelerator), said at the
    declaration, by `iac validate` too. The names iac makes of a pool's name are never
    refused."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "stack.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        stack = check_stack(str(path), Diagnostics())
        try:
            compiled = compile_stack(stack, Diagnostics())
        except StackInvalid as refused:
            event("refused: two declarations make one name")
            messages = [
                str(d).split(": error: ")[1] for d in refused.diagnostics if d.severity == "error"
            ]
            assert messages
            for message in messages:
                assert COLLISION.search(message), message
            with pytest.raises(StackInvalid) as validated:
                check_with_policies(str(path), Diagnostics())
            assert set(messages) <= {
                str(d).split(": error: ")[1]
                for d in validated.value.diagnostics
                if d.severity == "error"
            }
            return
        check_with_policies(str(path), Diagnostics())  # valid for `iac validate` too
    found = identities(compiled)
    assert max(found.values()) == 1
    hashed = [n for *_, n in found if re.search(r"-[0-9a-f]{8}$", n)]
    event(
        f"hashed names: {'warm placeholders' if any('iac-warm-' in n for n in hashed) else 'others' if hashed else 'none'}"
    )
    for obj in compiled.objects:
        name = obj["metadata"]["name"]
        assert len(name) <= 63, name
        assert LABEL.fullmatch(name), name
    problems = [p for obj in compiled.objects for p in object_validator().problems(obj)]
    assert problems == []
    assert Counter(f for f, _ in declared_objects(stack, compiled.release)) == found
