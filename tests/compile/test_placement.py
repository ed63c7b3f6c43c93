"""GPU placement (issue #19 item 4): every GPU workload selects its accelerator type, on every
provisioner, by the labels its nodes really carry (`iac.catalog.node_labels`,
`iac.compile.capacity.placement`), beside its pool's own labels."""

from __future__ import annotations

import itertools
import textwrap
from pathlib import Path
from typing import Any

import pytest

from iac.catalog import catalog
from iac.catalog.node_labels import (
    GFD_PRODUCT,
    GKE_ACCELERATOR,
    GKE_PARTITION_SIZE,
    KARPENTER_GPU_MEMORY,
    KARPENTER_GPU_NAME,
    GpuLabels,
    accelerator_labels,
    gpu_labels_of,
)
from iac.compile import Compiled
from iac.compile.capacity.placement import node_affinity, placement
from iac.compile.release.node_pools import PoolPlan
from iac.spec.stack import Cluster
from tests.support.compile_helpers import compile_text, find

LABELLERS: tuple[GpuLabels, ...] = ("gpu-feature-discovery", "gke", "karpenter")
WHOLE = [a for a in catalog().accelerators.values() if a.mig is None]
A = catalog().accelerators


def matches(pod: dict[str, Any], node: dict[str, str]) -> bool:
    """Whether the scheduler may put `pod` on a node with these labels: every nodeSelector
    entry, and some term of a required node affinity (`In` expressions only)."""
    if any(node.get(k) != v for k, v in (pod.get("nodeSelector") or {}).items()):
        return False
    affinity = (pod.get("affinity") or {}).get("nodeAffinity")
    if not affinity:
        return True
    terms = affinity["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    for term in terms:
        for expression in term["matchExpressions"]:
            assert expression["operator"] == "In", expression
        if all(node.get(e["key"]) in e["values"] for e in term["matchExpressions"]):
            return True
    return False


def pod_spec(compiled: Compiled, kind: str, name: str) -> dict[str, Any]:
    obj = find(compiled, kind, name)
    template = obj["template"] if kind == "PodTemplate" else obj["spec"]["template"]
    spec: dict[str, Any] = template["spec"]
    return spec


# --- the labels per labeller (catalog) --------------------------------------------------------


def test_each_labeller_names_the_node_labels_it_writes() -> None:
    assert accelerator_labels(A["L4"], "gpu-feature-discovery") == {GFD_PRODUCT: ("NVIDIA-L4",)}
    assert accelerator_labels(A["H100"], "gpu-feature-discovery") == {
        GFD_PRODUCT: ("NVIDIA-H100-80GB-HBM3", "NVIDIA-H100-PCIe")
    }
    assert accelerator_labels(A["H100"], "gke") == {GKE_ACCELERATOR: ("nvidia-h100-80gb",)}
    assert accelerator_labels(A["H100"], "gke", every_series=True) == {
        GKE_ACCELERATOR: ("nvidia-h100-80gb", "nvidia-h100-mega-80gb")
    }
    assert accelerator_labels(A["A100_40GB"], "karpenter") == {
        KARPENTER_GPU_NAME: ("a100",),
        KARPENTER_GPU_MEMORY: ("40960",),
    }
    assert accelerator_labels(A["H100"], "none") == {}
    assert accelerator_labels(A["A10G"], "gke") == {}  # GKE has none: placement says so


def test_a_mig_slice_is_found_on_its_parents_nodes_as_each_labeller_says() -> None:
    slice_ = A["H100_40GB"]
    # GFD's mixed strategy (whose nvidia.com/mig-3g.40gb resource iac requests): a label per
    # profile, named after the resource, valued the parent's product and the profile.
    assert accelerator_labels(slice_, "gpu-feature-discovery") == {
        "nvidia.com/mig-3g.40gb.product": (
            "NVIDIA-H100-80GB-HBM3-MIG-3g.40gb",
            "NVIDIA-H100-PCIe-MIG-3g.40gb",
        )
    }
    assert accelerator_labels(slice_, "gke") == {
        GKE_ACCELERATOR: ("nvidia-h100-80gb",),
        GKE_PARTITION_SIZE: ("3g.40gb",),
    }
    assert accelerator_labels(slice_, "karpenter") == accelerator_labels(A["H100"], "karpenter")


@pytest.mark.parametrize("labeller", LABELLERS)
def test_no_node_of_one_type_carries_the_labels_of_another(labeller: GpuLabels) -> None:
    # Every board name (or machine series' name) of one type against every other type: the
    # labels never overlap, so a workload never lands on another type's node.
    labelled = {
        a.name: accelerator_labels(a, labeller, every_series=True)
        for a in WHOLE
        if accelerator_labels(a, labeller)
    }
    for (one, labels), (other, wanted) in itertools.permutations(labelled.items(), 2):
        for values in itertools.product(*labels.values()):
            node = dict(zip(labels, values, strict=True))
            assert not all(node.get(k) in v for k, v in wanted.items()), (one, other, node)


def test_whole_types_all_have_labels_everywhere_but_on_gke() -> None:
    for kind in WHOLE:
        assert accelerator_labels(kind, "gpu-feature-discovery")[GFD_PRODUCT], kind.name
        assert all(accelerator_labels(kind, "karpenter").values()), kind.name
        assert bool(accelerator_labels(kind, "gke")) == bool(kind.gke_accelerator), kind.name


def test_the_provisioner_decides_who_labels_its_nodes() -> None:
    assert gpu_labels_of("karpenter", None) == "karpenter"
    assert gpu_labels_of("gke", None) == "gke"
    assert gpu_labels_of("existing", None) == "gpu-feature-discovery"
    assert gpu_labels_of("existing", "gke") == "gke"
    assert gpu_labels_of("existing", "none") == "none"


# --- the placement of one pod (compile) -------------------------------------------------------


def _pool(name: str, accelerator: str, labels: dict[str, str]) -> PoolPlan:
    return PoolPlan(name, A[accelerator], True, "on-demand", (), None, (), labels, None)


def test_on_existing_nodes_one_value_is_a_selector_several_an_affinity() -> None:
    cluster = Cluster(name="c")
    l4 = placement(A["L4"], _pool("l4", "L4", {}), cluster)
    assert (l4.node_selector, l4.affinity) == ({GFD_PRODUCT: "NVIDIA-L4"}, None)
    h100 = placement(A["H100"], _pool("h", "H100", {"team": "serving"}), cluster)
    assert h100.node_selector == {"team": "serving"}
    assert h100.affinity == node_affinity(
        [
            {
                "key": GFD_PRODUCT,
                "operator": "In",
                "values": ["NVIDIA-H100-80GB-HBM3", "NVIDIA-H100-PCIe"],
            }
        ]
    )
    # GKE Autopilot takes the accelerator only as a nodeSelector: one name, there.
    autopilot = Cluster(name="c", gpu_label="gke")
    mig = placement(A["H100_40GB"], _pool("m", "H100_40GB", {}), autopilot)
    assert mig.node_selector == {
        GKE_ACCELERATOR: "nvidia-h100-80gb",
        GKE_PARTITION_SIZE: "3g.40gb",
    }
    assert mig.affinity is None
    nothing = placement(A["H100"], _pool("h", "H100", {}), Cluster(name="c", gpu_label="none"))
    assert (nothing.node_selector, nothing.affinity) == ({}, None)


def test_a_label_the_pool_declares_is_the_pools_to_choose() -> None:
    board = {GFD_PRODUCT: "NVIDIA-H100-PCIe"}
    where = placement(A["H100"], _pool("pcie", "H100", board), Cluster(name="c"))
    assert (where.node_selector, where.affinity) == (board, None)


def test_created_pools_keep_the_selector_to_their_labels() -> None:
    # The Pulumi program finds the pool a workload waits for by its nodeSelector ⊆ the
    # pool's labels: the accelerator goes to the affinity even where it has one value.
    cluster = Cluster(name="c", provisioner="karpenter")
    where = placement(A["L4"], _pool("l4", "L4", {"team": "a"}), cluster)
    assert where.node_selector == {"iac.dev/node-pool": "l4", "team": "a"}
    assert where.affinity == node_affinity(
        [
            {"key": KARPENTER_GPU_NAME, "operator": "In", "values": ["l4"]},
            {"key": KARPENTER_GPU_MEMORY, "operator": "In", "values": ["22888"]},
        ]
    )


# --- per provisioner: an L4 and an H100 workload select different nodes -----------------------

MODELS = """\
    models:
      small:
        image: x
        resources: {accelerator: L4, cpu: "4", memory: 16Gi}
        deployments: {v1: {}}
      big:
        image: x
        resources: {accelerator: H100, cpu: "8", memory: 64Gi}
        deployments: {v1: {}}
    auth: {public: true}
    """


def two_types(tmp_path: Path, cluster: str) -> Compiled:
    return compile_text(tmp_path, f"version: 1\ncluster: {cluster}\n" + textwrap.dedent(MODELS))


def node(labeller: GpuLabels, accelerator: str, pool: str | None = None) -> dict[str, str]:
    """The labels of a node of `accelerator` (its first board or machine name), in `pool`."""
    labels = accelerator_labels(A[accelerator], labeller, every_series=True)
    found = {key: values[0] for key, values in labels.items()}
    if pool is not None:
        found["iac.dev/node-pool"] = pool
    return found


@pytest.mark.parametrize(
    ("cluster", "labeller", "pools"),
    [
        ("{name: c}", "gpu-feature-discovery", False),
        ("{name: c, gpu_label: gke}", "gke", False),
        ("{name: c, gpu_label: karpenter}", "karpenter", False),
        ("{name: c, provisioner: karpenter}", "karpenter", True),
        (
            "{name: c, provisioner: gke, gke: {cluster: k, location: us-central1}}",
            "gke",
            True,
        ),
    ],
)
def test_an_l4_and_an_h100_workload_select_different_nodes(
    tmp_path: Path, cluster: str, labeller: GpuLabels, pools: bool
) -> None:
    compiled = two_types(tmp_path, cluster)
    small = pod_spec(compiled, "Deployment", "small-v1")
    big = pod_spec(compiled, "Deployment", "big-v1")
    l4_node = node(labeller, "L4", "gpu-l4" if pools else None)
    h100_node = node(labeller, "H100", "gpu-h100" if pools else None)
    assert matches(small, l4_node)
    assert not matches(small, h100_node)
    assert matches(big, h100_node)
    assert not matches(big, l4_node)
    # Every H100 board name (and GKE machine series) is accepted.
    for values in itertools.product(*accelerator_labels(A["H100"], labeller).values()):
        labels = dict(zip(accelerator_labels(A["H100"], labeller), values, strict=True))
        if pools:
            labels["iac.dev/node-pool"] = "gpu-h100"
        assert matches(big, labels), labels


def test_without_gpu_labels_only_the_pools_labels_place_pods(tmp_path: Path) -> None:
    compiled = two_types(tmp_path, "{name: c, gpu_label: none}")
    for name in ("small-v1", "big-v1"):
        spec = pod_spec(compiled, "Deployment", name)
        assert "nodeSelector" not in spec
        assert "affinity" not in spec


def test_warm_placeholders_and_prepull_select_like_the_workload(tmp_path: Path) -> None:
    compiled = compile_text(
        tmp_path,
        """\
        version: 1
        cluster: {name: c}
        node_pools:
          serving: {accelerator: H100, labels: {team: serving}, warm: {nodes: 1}}
        models:
          m:
            image: x
            resources: {accelerator: H100, node_pool: serving, cpu: "8", memory: 64Gi}
            deployments: {v1: {}}
        auth: {public: true}
        """,
    )
    workload = pod_spec(compiled, "Deployment", "m-v1")
    assert workload["nodeSelector"] == {"team": "serving"}
    for kind, name in (
        ("Deployment", "iac-warm-pool-serving"),
        ("DaemonSet", "iac-prepull-serving"),
    ):
        spec = pod_spec(compiled, kind, name)
        assert spec["nodeSelector"] == workload["nodeSelector"], name
        assert spec["affinity"] == workload["affinity"], name


def test_a_mig_slice_on_gpu_feature_discovery_nodes(tmp_path: Path) -> None:
    compiled = compile_text(
        tmp_path,
        """\
        version: 1
        cluster: {name: c}
        models:
          m:
            image: x
            resources: {accelerator: H100_40GB, cpu: "4", memory: 32Gi}
            deployments: {v1: {}}
        auth: {public: true}
        """,
    )
    spec = pod_spec(compiled, "Deployment", "m-v1")
    assert spec["containers"][0]["resources"]["limits"]["nvidia.com/mig-3g.40gb"] == "1"
    # An H100 partitioned to 3g.40gb slices (mixed strategy): GFD keeps the parent's product
    # and names the profile's (GFD's README, "MIG 'mixed' strategy").
    partitioned = {
        GFD_PRODUCT: "NVIDIA-H100-80GB-HBM3",
        "nvidia.com/mig.strategy": "mixed",
        "nvidia.com/mig-3g.40gb.count": "2",
        "nvidia.com/mig-3g.40gb.product": "NVIDIA-H100-80GB-HBM3-MIG-3g.40gb",
    }
    assert matches(spec, partitioned)
    assert not matches(spec, {GFD_PRODUCT: "NVIDIA-H100-80GB-HBM3"})  # not partitioned
    assert not matches(
        spec, {"nvidia.com/mig-3g.40gb.product": "NVIDIA-A100-80GB-PCIe-MIG-3g.40gb"}
    )


def test_karpenter_tells_a100_80gb_from_40gb_in_pool_and_pod(tmp_path: Path) -> None:
    compiled = compile_text(
        tmp_path,
        """\
        version: 1
        cluster: {name: c, provisioner: karpenter}
        models:
          big: {image: x, resources: {accelerator: A100}, deployments: {v1: {}}}
          small: {image: x, resources: {accelerator: A100_40GB}, deployments: {v1: {}}}
        auth: {public: true}
        """,
    )
    for pool, name, memory in (
        ("gpu-a100", "big-v1", "81920"),
        ("gpu-a100-40gb", "small-v1", "40960"),
    ):
        requirements = find(compiled, "NodePool", pool)["spec"]["template"]["spec"]["requirements"]
        wanted = {r["key"]: r["values"] for r in requirements}
        assert wanted[KARPENTER_GPU_NAME] == ["a100"]
        assert wanted[KARPENTER_GPU_MEMORY] == [memory]
        # The pods select what the pool requires of its instances.
        (term,) = pod_spec(compiled, "Deployment", name)["affinity"]["nodeAffinity"][
            "requiredDuringSchedulingIgnoredDuringExecution"
        ]["nodeSelectorTerms"]
        assert {e["key"]: e["values"] for e in term["matchExpressions"]} == {
            KARPENTER_GPU_NAME: ["a100"],
            KARPENTER_GPU_MEMORY: [memory],
        }
