"""GPU node pools: placement, sizing, MIG, multi-GPU shapes, spot, caps (issue #4)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from iac.cli import cli
from iac.diagnostics import Diagnostics
from iac.errors import StackInvalid
from tests.support.compile_helpers import compile_text, find

KARPENTER = """\
version: 1
cluster: {name: c, provisioner: karpenter}
"""


def karpenter(body: str) -> str:
    return KARPENTER + textwrap.dedent(body)


def requirement(pool: dict, key: str) -> dict:
    (found,) = [r for r in pool["spec"]["template"]["spec"]["requirements"] if r["key"] == key]
    return found


def test_two_models_share_the_h100_pool_sized_with_surge(tmp_path: Path) -> None:
    compiled = compile_text(
        tmp_path,
        karpenter(
            """\
            models:
              a:
                image: x
                resources: {accelerator: H100}
                deployments: {v1: {}}
                environments:
                  production:
                    deployment: v1
                    autoscaling: {min_replicas: 1, max_replicas: 8}
                    promotion: {strategy: rolling, max_surge_percent: 25}
              b:
                image: x
                resources: {accelerator: "H100:2"}
                autoscaling: {max_replicas: 3}
                deployments: {v1: {}, old: {state: inactive}}
            auth: {public: true}
            """
        ),
    )
    pool = find(compiled, "NodePool", "gpu-h100")
    # a: 8 replicas + 25 % surge (2) = 10 GPUs; b: 3 replicas × 2 GPUs = 6; inactive: 0.
    assert pool["spec"]["limits"] == {"nvidia.com/gpu": "16"}
    assert requirement(pool, "karpenter.k8s.aws/instance-gpu-name")["values"] == ["h100"]
    # A 2-GPU replica needs both devices on one node.
    assert requirement(pool, "karpenter.k8s.aws/instance-gpu-count") == {
        "key": "karpenter.k8s.aws/instance-gpu-count",
        "operator": "Gt",
        "values": ["1"],
    }
    assert pool["spec"]["template"]["spec"]["taints"] == [
        {"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}
    ]
    assert pool["spec"]["disruption"]["consolidationPolicy"] == "WhenEmpty"
    pod = find(compiled, "Deployment", "b-v1")["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == pool["spec"]["template"]["metadata"]["labels"]
    assert [o["metadata"]["name"] for o in compiled.objects if o["kind"] == "NodePool"] == [
        "gpu-h100"
    ]
    release = compiled.release.to_dict()["node_pools"]
    assert release == {
        "gpu-h100": {
            "accelerator": "H100",
            "capacity_type": "on-demand",
            "demand_gpus": 16,
            "limit_gpus": 16,
        }
    }


@pytest.mark.parametrize(
    ("max_replicas", "promotion", "gpus"),
    [
        # 25 % of 1 rounds down to none: the promotion adds a surge replica, the pool holds it.
        (1, "max_surge_percent: 0, max_unavailable_percent: 25", 2),
        (3, "max_surge_percent: 0, max_unavailable_percent: 25", 4),
        # 25 % of 4 takes one down first: no surge.
        (4, "max_surge_percent: 0, max_unavailable_percent: 25", 4),
        # allow_unavailable takes the only replica down instead.
        (1, "max_surge_percent: 0, max_unavailable_percent: 25, allow_unavailable: true", 1),
    ],
)
def test_the_surge_replica_a_rolling_promotion_adds_is_in_the_pool(
    tmp_path: Path, max_replicas: int, promotion: str, gpus: int
) -> None:
    compiled = compile_text(
        tmp_path,
        karpenter(
            f"""\
            models:
              a:
                image: x
                resources: {{accelerator: H100}}
                deployments: {{v1: {{}}}}
                environments:
                  production:
                    deployment: v1
                    autoscaling: {{min_replicas: 1, max_replicas: {max_replicas}}}
                    promotion: {{strategy: rolling, {promotion}}}
            auth: {{public: true}}
            """
        ),
    )
    pool = find(compiled, "NodePool", "gpu-h100")
    assert pool["spec"]["limits"] == {"nvidia.com/gpu": str(gpus)}


def test_mig_slices_share_devices_and_configure_the_node(tmp_path: Path) -> None:
    compiled = compile_text(
        tmp_path,
        karpenter(
            """\
            models:
              small:
                image: x
                resources: {accelerator: H100_40GB}
                autoscaling: {max_replicas: 3}
                deployments: {v1: {}}
            auth: {public: true}
            """
        ),
    )
    pool = find(compiled, "NodePool", "gpu-h100-40gb")
    assert pool["spec"]["limits"] == {"nvidia.com/gpu": "2"}  # 3 slices, 2 per device
    labels = pool["spec"]["template"]["metadata"]["labels"]
    assert labels["nvidia.com/mig.config"] == "all-3g.40gb"
    assert requirement(pool, "karpenter.k8s.aws/instance-gpu-name")["values"] == ["h100"]
    container = find(compiled, "Deployment", "small-v1")["spec"]["template"]["spec"]["containers"][
        0
    ]
    assert container["resources"]["limits"]["nvidia.com/mig-3g.40gb"] == "1"
    assert "nvidia.com/gpu" not in container["resources"]["limits"]


def test_eight_gpu_shape(tmp_path: Path) -> None:
    compiled = compile_text(
        tmp_path,
        karpenter(
            """\
            models:
              huge:
                image: x
                resources: {accelerator: "H100:8", memory: 900Gi}
                autoscaling: {max_replicas: 2}
                deployments: {v1: {}}
            auth: {public: true}
            """
        ),
    )
    pool = find(compiled, "NodePool", "gpu-h100")
    assert pool["spec"]["limits"] == {"nvidia.com/gpu": "16"}
    assert requirement(pool, "karpenter.k8s.aws/instance-gpu-count")["values"] == ["7"]
    container = find(compiled, "Deployment", "huge-v1")["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["requests"]["nvidia.com/gpu"] == "8"


def test_declared_spot_pool_with_instance_types_and_named_placement(tmp_path: Path) -> None:
    compiled = compile_text(
        tmp_path,
        karpenter(
            """\
            node_pools:
              l4-spot:
                accelerator: L4
                capacity_type: spot
                instance_types: [g6.xlarge, g6.2xlarge]
                labels: {team: search}
              l4-steady: {accelerator: L4}
            models:
              m:
                image: x
                resources: {accelerator: L4, node_pool: l4-spot}
                deployments: {v1: {}}
              n:
                image: x
                resources: {accelerator: L4}
                deployments: {v1: {}}
            auth: {public: true}
            """
        ),
    )
    spot = find(compiled, "NodePool", "l4-spot")
    assert requirement(spot, "karpenter.sh/capacity-type")["values"] == ["spot"]
    assert requirement(spot, "node.kubernetes.io/instance-type")["values"] == [
        "g6.xlarge",
        "g6.2xlarge",
    ]
    assert spot["spec"]["template"]["metadata"]["labels"] == {
        "iac.dev/node-pool": "l4-spot",
        "team": "search",
    }
    m = find(compiled, "Deployment", "m-v1")["spec"]["template"]["spec"]
    n = find(compiled, "Deployment", "n-v1")["spec"]["template"]["spec"]
    assert m["nodeSelector"] == {"iac.dev/node-pool": "l4-spot", "team": "search"}
    # Unnamed: the first declared pool of the type, by name.
    assert n["nodeSelector"] == {"iac.dev/node-pool": "l4-spot", "team": "search"}
    # A declared pool nothing runs on is still provisioned (empty, limit 0).
    steady = find(compiled, "NodePool", "l4-steady")
    assert steady["spec"]["limits"] == {"nvidia.com/gpu": "0"}


def test_a_cap_below_demand_is_a_finding(tmp_path: Path) -> None:
    diagnostics = Diagnostics()
    compiled = compile_text(
        tmp_path,
        karpenter(
            """\
            node_pools:
              h100: {accelerator: H100, max_gpus: 4}
            models:
              m:
                image: x
                resources: {accelerator: "H100:2"}
                autoscaling: {max_replicas: 3}
                deployments: {v1: {}}
            auth: {public: true}
            """
        ),
        diagnostics,
    )
    assert find(compiled, "NodePool", "h100")["spec"]["limits"] == {"nvidia.com/gpu": "4"}
    (warning,) = diagnostics.warnings
    assert str(warning) == (
        f"{tmp_path / 'stack.yaml'}:4:39: warning: node_pools.h100.max_gpus: max_gpus 4 is "
        "below the 6 GPUs its deployments can ask for at once (m/v1 3×2); past the cap, "
        "replicas stay pending. Raise max_gpus or lower max_replicas [pool-cap-below-demand]"
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            """\
            cluster: {name: c, provisioner: gke, gke: {cluster: k, location: us-central1}}
            models:
              m: {image: x, resources: {accelerator: A10G}, deployments: {v1: {}}}
            auth: {public: true}
            """,
            "models.m.resources.accelerator: GKE offers no A10G nodes; choose one of A100, "
            "A100_40GB, B200, H100, H100_40GB, H200, L4, RTX_PRO_6000, T4, V100 (or "
            "`provisioner: existing` with your own nodes)",
        ),
        (
            """\
            cluster: {name: c, provisioner: karpenter}
            node_pools: {h100: {accelerator: H100}}
            models:
              m: {image: x, resources: {accelerator: L4, node_pool: h100}, deployments: {v1: {}}}
            auth: {public: true}
            """,
            "models.m.resources.node_pool: node pool 'h100' has H100 nodes, but this "
            "deployment needs L4",
        ),
        (
            """\
            cluster: {name: c, provisioner: karpenter}
            node_pools: {h100: {accelerator: H100}}
            models:
              m: {image: x, resources: {accelerator: H100, node_pool: h10}, deployments: {v1: {}}}
            auth: {public: true}
            """,
            "models.m.resources.node_pool: no node pool 'h10'; did you mean 'h100'? "
            "(pools of H100 nodes: gpu-h100, h100; declared: h100)",
        ),
        (
            """\
            cluster: {name: c}
            node_pools: {h100: {accelerator: H100}}
            models:
              m: {image: x, resources: {node_pool: h100}, deployments: {v1: {}}}
            auth: {public: true}
            """,
            "models.m.resources.node_pool: node pool 'h100' is for GPU nodes, but this "
            "deployment sets no `resources.accelerator`",
        ),
    ],
)
def test_placements_that_cannot_work_are_errors(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(StackInvalid) as info:
        compile_text(tmp_path, "version: 1\n" + textwrap.dedent(body))
    assert [str(d).split(": error: ", 1)[1] for d in info.value.diagnostics] == [message]


def test_existing_nodes_are_selected_by_the_labels_the_stack_names(tmp_path: Path) -> None:
    compiled = compile_text(
        tmp_path,
        """\
        version: 1
        cluster: {name: c, provisioner: existing}
        node_pools:
          a100s: {accelerator: A100, labels: {nvidia.com/gpu.product: NVIDIA-A100-SXM4-80GB}}
        models:
          m: {image: x, resources: {accelerator: A100}, deployments: {v1: {}}}
          n: {image: x, resources: {accelerator: L4}, deployments: {v1: {}}}
        auth: {public: true}
        """,
    )
    assert not [o for o in compiled.objects if o["kind"] in ("NodePool", "EC2NodeClass")]
    # The pool's label is one of the A100's product names: it alone selects the nodes.
    m = find(compiled, "Deployment", "m-v1")["spec"]["template"]["spec"]
    assert m["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}
    assert "affinity" not in m
    # No pool declared: the L4 still runs on L4 nodes only (GPU feature discovery's label).
    n = find(compiled, "Deployment", "n-v1")["spec"]["template"]["spec"]
    assert n["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-L4"}
    assert n["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]


def test_an_existing_node_class_is_referenced_not_emitted(tmp_path: Path) -> None:
    compiled = compile_text(
        tmp_path,
        """\
        version: 1
        cluster: {name: c, provisioner: karpenter, karpenter: {node_class: shared-gpu}}
        models:
          m: {image: x, resources: {accelerator: L4}, deployments: {v1: {}}}
        auth: {public: true}
        """,
    )
    assert not [o for o in compiled.objects if o["kind"] == "EC2NodeClass"]
    pool = find(compiled, "NodePool", "gpu-l4")
    assert pool["spec"]["template"]["spec"]["nodeClassRef"]["name"] == "shared-gpu"


UNFIT = """\
version: 1
cluster: {name: c, provisioner: karpenter}
node_pools:
  picked: {accelerator: L4, instance_types: [g6.xlarge, g6.2xlarge]}
models:
  huge:  # 200 CPUs: more than any A10G instance has (g5.48xlarge: 192 vCPUs)
    image: org/m:1
    resources: {accelerator: A10G, cpu: "200"}
    deployments: {v1: {}}
  wide:  # 12 CPUs: more than the pool's instance types have
    image: org/m:1
    resources: {accelerator: L4, cpu: "12", node_pool: picked}
    deployments: {v1: {}}
  fine:
    image: org/m:1
    resources: {accelerator: L4, cpu: "4", node_pool: picked}
    deployments: {v1: {}}
auth: {public: true}
"""


def test_a_replica_no_instance_type_can_hold_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "stack.yaml"
    path.write_text(UNFIT)
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if "[replica-fits-no-instance]" in line]
    assert errors == [
        f"{path}:4:3: error: node_pools.picked: no AWS instance type for node pool 'picked' "
        "can hold a replica of wide/v1 (1 × L4, 12 CPU, 2 GiB memory) on one node; the largest "
        "is g6.2xlarge (1 GPU, 8 vCPUs, 32 GiB), so Karpenter would leave its pods pending. "
        "Lower the replica's resources, or widen the pool's `instance_types` "
        "[replica-fits-no-instance]",
        f"{path}:8:16: error: models.huge.resources: no AWS instance type for "
        "node pool 'gpu-a10g' can hold a replica of huge/v1 (1 × A10G, 200 CPU, 2 GiB memory) "
        "on one node; the largest is g5.48xlarge (8 GPUs, 192 vCPUs, 768 GiB), so Karpenter "
        "would leave its pods pending. Lower the replica's resources, or choose an accelerator "
        "whose instances are larger [replica-fits-no-instance]",
    ]
    # `iac render` refuses it too.
    rendered = CliRunner().invoke(cli, ["render", str(path)])
    assert rendered.exit_code == 1
    assert rendered.stderr.count("[replica-fits-no-instance]") == 2


def test_karpenter_warns_of_a_replica_only_the_nodes_reservations_leave_out(
    tmp_path: Path,
) -> None:
    # 7.8 CPUs: a g6.2xlarge has 8, less what the node keeps (an estimate on EKS).
    path = tmp_path / "stack.yaml"
    path.write_text(UNFIT.split("models:")[0] + TIGHT)
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "[replica-fits-no-instance]" in line]
    assert warnings == [
        f"{path}:4:3: warning: node_pools.picked: no AWS instance type for node pool 'picked' "
        "fits a replica of tight/v1 (1 × L4, 7.8 CPU, 16 GiB memory) on one node; the largest "
        "is g6.2xlarge (1 GPU, 8 vCPUs, 32 GiB, less what the node keeps), so Karpenter would "
        "leave its pods pending. Lower the replica's resources, or widen the pool's "
        "`instance_types` [replica-fits-no-instance]",
    ]


TIGHT = """\
models:
  tight:
    image: org/m:1
    resources: {accelerator: L4, cpu: "7.8", memory: 16Gi, node_pool: picked}
    deployments: {v1: {}}
auth: {public: true}
"""


def test_existing_nodes_of_named_types_are_checked_too(tmp_path: Path) -> None:
    path = tmp_path / "stack.yaml"
    path.write_text(
        UNFIT.split("models:")[0].replace("karpenter", "existing") + TIGHT.replace("7.8", "12")
    )
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 1
    assert result.stderr == (
        f"{path}:4:3: error: node_pools.picked: none of the `instance_types` of node pool "
        "'picked' can hold a replica of tight/v1 (1 × L4, 12 CPU, 16 GiB memory) on one node; "
        "the largest is g6.2xlarge (1 GPU, 8 vCPUs, 32 GiB), so its pods would stay pending. "
        "Lower the replica's resources, or widen the pool's `instance_types` "
        "[replica-fits-no-instance]\n"
    )
    # Without instance types, existing nodes are of sizes iac cannot know: not judged.
    path.write_text(path.read_text().replace(", instance_types: [g6.xlarge, g6.2xlarge]", ""))
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 0, result.stderr
    assert "[replica-fits-no-instance]" not in result.stderr
