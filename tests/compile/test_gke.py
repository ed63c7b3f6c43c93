"""GKE node pools (`provisioner: gke`, issue #4): the compiled declarations (machine type,
accelerators, sizing, spot, labels and taint), how `iac render` shows them, and the Pulumi
program registering them as `pulumi_gcp` NodePools under mocks."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from click.testing import CliRunner

from iac.cli import cli
from iac.compile import Compiled
from iac.compile.capacity.gke import GPU_TAINT, NODE_POOL_TYPE
from iac.compile.capacity.machines import Machine, allocatable
from iac.compile.release.node_pools import node_labels
from iac.diagnostics import Diagnostics
from iac.errors import IacError, StackInvalid
from iac.program import gke as program_gke
from iac.program.deploy import CLUSTER_TYPE
from iac.render.text import CLOUD_HEADER, render
from tests.support.compile_helpers import compile_text, find
from tests.support.program_helpers import run_program

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "06-gke" / "stack.yaml"
GKE = """\
version: 1
cluster: {name: c, provisioner: gke, gke: {cluster: serving, location: us-central1}}
"""


def gke(body: str) -> str:
    return GKE + textwrap.dedent(body)


def pool(compiled: Compiled, name: str) -> dict[str, Any]:
    found = [d for d in compiled.cloud if d["name"] == name]
    assert len(found) == 1, [d["name"] for d in compiled.cloud]
    assert found[0]["type"] == NODE_POOL_TYPE
    properties: dict[str, Any] = found[0]["properties"]
    return properties


def accelerator(properties: dict[str, Any]) -> dict[str, Any]:
    (found,) = properties["nodeConfig"]["guestAccelerators"]
    return dict(found)


SHARED = """\
    models:
      a:
        image: x
        resources: {accelerator: H100, cpu: "8", memory: 64Gi}
        deployments: {v1: {}}
        environments:
          production:
            deployment: v1
            autoscaling: {min_replicas: 1, max_replicas: 8}
            promotion: {strategy: rolling, max_surge_percent: 25}
      b:
        image: x
        resources: {accelerator: "H100:2", cpu: "16", memory: 128Gi}
        autoscaling: {max_replicas: 3}
        deployments: {v1: {}, old: {state: inactive}}
    auth: {public: true}
    """


def test_two_models_share_an_on_demand_h100_pool_sized_with_surge(tmp_path: Path) -> None:
    compiled = compile_text(tmp_path, gke(SHARED))
    assert [d["name"] for d in compiled.cloud] == ["gpu-h100"]
    properties = pool(compiled, "gpu-h100")
    assert properties == {
        "name": "gpu-h100",
        "cluster": "serving",
        "location": "us-central1",
        "initialNodeCount": 0,
        # a: 8 replicas + 25 % surge = 10, 8 to a node → 2; b: 3 × 2 GPUs, 4 to a node → 1.
        "autoscaling": {
            "totalMinNodeCount": 0,
            "totalMaxNodeCount": 3,
            "locationPolicy": "BALANCED",
        },
        "management": {"autoRepair": True, "autoUpgrade": True},
        "nodeConfig": {
            # On demand: the 1-, 2- and 4-GPU A3 High machines are Spot or Flex-start only.
            "machineType": "a3-highgpu-8g",
            "guestAccelerators": [
                {
                    "type": "nvidia-h100-80gb",
                    "count": 8,
                    "gpuDriverInstallationConfig": {"gpuDriverVersion": "LATEST"},
                }
            ],
            "labels": {"iac.dev/node-pool": "gpu-h100"},
            "taints": [{"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}],
        },
    }
    assert compiled.release.pools[0].demand_devices == 16
    # No Kubernetes object for the pool: it is a cloud resource.
    assert not [o for o in compiled.objects if o["kind"] in ("NodePool", "EC2NodeClass")]


def test_a_spot_pool_takes_the_cheapest_machine_every_replica_fits(tmp_path: Path) -> None:
    body = SHARED.replace(
        "    models:",
        "    node_pools: {h100: {accelerator: H100, capacity_type: spot}}\n    models:",
    )
    compiled = compile_text(tmp_path, gke(body))
    properties = pool(compiled, "h100")
    # The 2-GPU replica of b needs both devices on one node: a3-highgpu-2g, not -1g.
    assert properties["nodeConfig"]["machineType"] == "a3-highgpu-2g"
    assert accelerator(properties)["count"] == 2
    assert properties["nodeConfig"]["spot"] is True
    assert properties["autoscaling"]["locationPolicy"] == "ANY"
    # a: 10 replicas, 2 to a node → 5; b: 3 replicas, 1 to a node → 3.
    assert properties["autoscaling"]["totalMaxNodeCount"] == 8


def test_mig_slices_partition_the_gpus(tmp_path: Path) -> None:
    compiled = compile_text(
        tmp_path,
        gke(
            """\
            node_pools: {mig: {accelerator: H100_40GB, capacity_type: spot}}
            models:
              m:
                image: x
                resources: {accelerator: H100_40GB, cpu: "4", memory: 32Gi}
                autoscaling: {max_replicas: 5}
                deployments: {v1: {}}
            auth: {public: true}
            """
        ),
    )
    properties = pool(compiled, "mig")
    assert properties["nodeConfig"]["machineType"] == "a3-highgpu-1g"
    assert accelerator(properties) == {
        "type": "nvidia-h100-80gb",
        "count": 1,
        "gpuDriverInstallationConfig": {"gpuDriverVersion": "LATEST"},
        "gpuPartitionSize": "3g.40gb",
    }
    # Two 3g.40gb slices per H100: 5 replicas on 3 one-GPU nodes.
    assert properties["autoscaling"]["totalMaxNodeCount"] == 3


MIG = """\
    node_pools: {mig: {accelerator: H100_40GB, capacity_type: spot, warm: {nodes: 1}}}
    models:
      m:
        image: x
        resources: {accelerator: H100_40GB, cpu: "4", memory: 32Gi}
        autoscaling: {max_replicas: 5}
        deployments: {v1: {}}
        environments:
          production: {deployment: v1, warm: {replicas: 1}}
    auth: {public: true}
    """
H100_NODES = {
    # GKE's names of the H100 on A3 High and on A3 Mega machines: the pool may get either.
    "key": "cloud.google.com/gke-accelerator",
    "operator": "In",
    "values": ["nvidia-h100-80gb", "nvidia-h100-mega-80gb"],
}
PARTITION_AFFINITY = {
    "nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [
                {
                    "matchExpressions": [
                        H100_NODES,
                        {
                            "key": "cloud.google.com/gke-gpu-partition-size",
                            "operator": "In",
                            "values": ["3g.40gb"],
                        },
                    ]
                }
            ]
        }
    }
}


def test_a_mig_slice_is_requested_as_gke_exposes_it(tmp_path: Path) -> None:
    # GKE's device plugin offers each partition of a `gpuPartitionSize` pool as one
    # `nvidia.com/gpu` on nodes labelled with the partition size; nothing there offers the
    # GPU operator's `nvidia.com/mig-3g.40gb` (Karpenter's name, tests/compile/test_node_pools.py).
    compiled = compile_text(tmp_path, gke(MIG))
    partition = accelerator(pool(compiled, "mig"))["gpuPartitionSize"]
    # A warm node: both slices of the one-GPU machine (a3-highgpu-1g) the pool gets.
    units = {"m-v1": "1", "iac-warm-m-v1": "1", "iac-warm-pool-mig": "2"}
    for name in units:
        spec = find(compiled, "Deployment", name)["spec"]["template"]["spec"]
        resources = spec["containers"][0]["resources"]
        assert resources["requests"]["nvidia.com/gpu"] == units[name], name
        assert resources["limits"]["nvidia.com/gpu"] == units[name], name
        assert not [r for r in resources["limits"] if r.startswith("nvidia.com/mig-")], name
        # The pool by its own labels; the GPU and the partition size by the labels GKE sets.
        assert spec["nodeSelector"] == pool(compiled, "mig")["nodeConfig"]["labels"], name
        assert spec["affinity"] == PARTITION_AFFINITY, name
        expression = spec["affinity"]["nodeAffinity"][
            "requiredDuringSchedulingIgnoredDuringExecution"
        ]["nodeSelectorTerms"][0]["matchExpressions"][1]
        assert expression["values"] == [partition], name
        assert accelerator(pool(compiled, "mig"))["type"] in H100_NODES["values"]
    # GKE refuses labels it manages in `nodeConfig.labels`: the pool does not set it.
    assert (
        "cloud.google.com/gke-gpu-partition-size"
        not in pool(compiled, "mig")["nodeConfig"]["labels"]
    )


def test_whole_gpus_on_gke_select_their_gpu_and_no_partition(tmp_path: Path) -> None:
    compiled = compile_text(tmp_path, gke(SHARED))
    spec = find(compiled, "Deployment", "a-v1")["spec"]["template"]["spec"]
    assert spec["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert spec["nodeSelector"] == pool(compiled, "gpu-h100")["nodeConfig"]["labels"]
    assert spec["affinity"] == {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [H100_NODES]}]
            }
        }
    }
    assert accelerator(pool(compiled, "gpu-h100"))["type"] in H100_NODES["values"]


def test_an_a3_mega_pool_is_labelled_as_its_pods_select(tmp_path: Path) -> None:
    # GKE names the H100 of A3 Mega machines `nvidia-h100-mega-80gb`: a pool of them gets
    # that accelerator type, and the pods' affinity admits it.
    compiled = compile_text(
        tmp_path,
        gke(
            """\
            node_pools: {mega: {accelerator: H100, instance_types: [a3-megagpu-8g]}}
            models:
              m:
                image: x
                resources: {accelerator: H100, cpu: "8", memory: 64Gi}
                deployments: {v1: {}}
            auth: {public: true}
            """
        ),
    )
    assert accelerator(pool(compiled, "mega"))["type"] == "nvidia-h100-mega-80gb"
    spec = find(compiled, "Deployment", "m-v1")["spec"]["template"]["spec"]
    terms = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert terms["nodeSelectorTerms"] == [{"matchExpressions": [H100_NODES]}]


def test_a_mig_deployment_waits_for_its_pool(tmp_path: Path) -> None:
    # The partition size is a node affinity, so the nodeSelector stays within the pool's
    # labels, which is how the program finds the pool a Deployment waits for.
    path = tmp_path / "stack.yaml"
    path.write_text(gke(MIG))
    run = run_program(path)
    (registered,) = [r for r in run.registrations if r.type == NODE_POOL_TYPE]
    for name in ("Deployment/models/m-v1", "Deployment/models/iac-warm-pool-mig"):
        assert registered.urn in run.one("kubernetes:apps/v1:Deployment", name).dependencies


def test_an_eight_gpu_replica_needs_an_eight_gpu_machine(tmp_path: Path) -> None:
    compiled = compile_text(
        tmp_path,
        gke(
            """\
            node_pools: {big: {accelerator: H100, capacity_type: spot}}
            models:
              m:
                image: x
                resources: {accelerator: "H100:8", cpu: "96", memory: 1000Gi}
                autoscaling: {max_replicas: 2}
                deployments: {v1: {}}
            auth: {public: true}
            """
        ),
    )
    properties = pool(compiled, "big")
    assert properties["nodeConfig"]["machineType"] == "a3-highgpu-8g"
    assert accelerator(properties)["count"] == 8
    assert properties["autoscaling"]["totalMaxNodeCount"] == 2


def test_cpu_and_memory_count_with_what_gke_reserves(tmp_path: Path) -> None:
    compiled = compile_text(
        tmp_path,
        gke(
            """\
            models:
              m:
                image: x
                resources: {accelerator: L4, cpu: "4", memory: 16Gi}
                autoscaling: {max_replicas: 3}
                deployments: {v1: {}}
            auth: {public: true}
            """
        ),
    )
    # g2-standard-4 has 4 vCPUs and 16 GiB in all, less than the replica once GKE reserves
    # its share: the next size up.
    assert pool(compiled, "gpu-l4")["nodeConfig"]["machineType"] == "g2-standard-8"
    cpu, memory = allocatable(Machine("g2-standard-8", 1, 8, 32, 0.85))
    # 8 − (6 % + 1 % + 2 × 0.5 % + 4 × 0.25 %) − the DaemonSet allowance.
    assert cpu == pytest.approx(8 - 0.09 - 0.5)
    # 32 GiB − (1 + 0.8 + 0.8 + 16 × 0.06) GiB − 100 MiB eviction − 1 GiB allowance.
    assert memory == pytest.approx((32 - 3.56) * 2**30 - 100 * 2**20 - 2**30)


def test_a_cap_is_counted_in_whole_nodes(tmp_path: Path) -> None:
    diagnostics = Diagnostics()
    compiled = compile_text(
        tmp_path,
        gke(
            """\
            node_pools:
              h100: {accelerator: H100, max_gpus: 12}
              l4: {accelerator: L4, capacity_type: spot, max_gpus: 3}
            models:
              a: {image: x, resources: {accelerator: H100}, autoscaling: {max_replicas: 20}, deployments: {v1: {}}}
              b: {image: x, resources: {accelerator: L4}, autoscaling: {max_replicas: 5}, deployments: {v1: {}}}
            auth: {public: true}
            """
        ),
        diagnostics,
    )
    assert pool(compiled, "h100")["autoscaling"]["totalMaxNodeCount"] == 2  # 12 GPUs, 8 a node
    assert pool(compiled, "l4")["autoscaling"]["totalMaxNodeCount"] == 3
    assert len(diagnostics.warnings) == 2  # both caps are below the demand (pool-cap-below-demand)


def test_a_pool_past_gkes_node_count_is_an_error(tmp_path: Path) -> None:
    # Two deployments at the int32 maximum each: more nodes than totalMaxNodeCount holds.
    scaling = "autoscaling: {max_replicas: 2147483647}"
    with pytest.raises(StackInvalid) as info:
        compile_text(
            tmp_path,
            gke(
                f"""\
                models:
                  a: {{image: x, resources: {{accelerator: L4}}, {scaling}, deployments: {{v1: {{}}}}}}
                  b: {{image: x, resources: {{accelerator: L4}}, {scaling}, deployments: {{v1: {{}}}}}}
                auth: {{public: true}}
                """
            ),
        )
    (error,) = [d for d in info.value.diagnostics if d.severity == "error"]
    assert error.message == (
        "node pool 'gpu-l4' would grow to 4,294,967,294 g2-standard-4 nodes for its "
        "deployments' max replicas, past the 2,147,483,647 nodes GKE's totalMaxNodeCount "
        "holds: declare it with a max_gpus, or lower max_replicas"
    )


def test_declared_instance_types_are_respected(tmp_path: Path) -> None:
    compiled = compile_text(
        tmp_path,
        gke(
            """\
            node_pools:
              l4: {accelerator: L4, instance_types: [g2-standard-48, g2-standard-24]}
              mega: {accelerator: H100, instance_types: [a3-megagpu-8g]}
            models:
              a: {image: x, resources: {accelerator: L4, node_pool: l4}, autoscaling: {max_replicas: 5}, deployments: {v1: {}}}
              b: {image: x, resources: {accelerator: H100, node_pool: mega}, deployments: {v1: {}}}
            auth: {public: true}
            """
        ),
    )
    l4 = pool(compiled, "l4")
    assert l4["nodeConfig"]["machineType"] == "g2-standard-24"  # the cheaper of the two
    assert accelerator(l4)["count"] == 2
    assert l4["autoscaling"]["totalMaxNodeCount"] == 3
    # GKE names the A3 Mega's GPUs apart from the A3 High's.
    assert accelerator(pool(compiled, "mega"))["type"] == "nvidia-h100-mega-80gb"


def test_n1_compositions_and_machines_the_stack_adds(tmp_path: Path) -> None:
    compiled = compile_text(
        tmp_path,
        gke(
            """\
            pricing:
              instance_types:
                n1-standard-8+1xV100: {accelerator: V100, gpus: 1, hourly: 2.95}
            models:
              t4: {image: x, resources: {accelerator: T4}, deployments: {v1: {}}}
              v100: {image: x, resources: {accelerator: V100}, deployments: {v1: {}}}
            auth: {public: true}
            """
        ),
    )
    t4 = pool(compiled, "gpu-t4")
    assert t4["nodeConfig"]["machineType"] == "n1-standard-4"  # of n1-standard-4+1xT4
    assert accelerator(t4)["type"] == "nvidia-tesla-t4"
    v100 = pool(compiled, "gpu-v100")
    assert v100["nodeConfig"]["machineType"] == "n1-standard-8"
    assert accelerator(v100) == {
        "type": "nvidia-tesla-v100",
        "count": 1,
        "gpuDriverInstallationConfig": {"gpuDriverVersion": "LATEST"},
    }


def test_pods_select_exactly_the_pool_labels_and_tolerate_its_taint(tmp_path: Path) -> None:
    compiled = compile_text(
        tmp_path,
        "version: 1\n"
        + textwrap.dedent(
            """\
            cluster:
              name: c
              provisioner: gke
              gke: {cluster: serving, location: europe-west4, project: my-project}
            node_pools:
              l4: {accelerator: L4, labels: {team: search}}
            models:
              m: {image: x, resources: {accelerator: L4}, deployments: {v1: {}}}
            auth: {public: true}
            """
        ),
    )
    properties = pool(compiled, "l4")
    assert (properties["cluster"], properties["location"], properties["project"]) == (
        "serving",
        "europe-west4",
        "my-project",
    )
    plan = compiled.release.pools[0]
    labels = properties["nodeConfig"]["labels"]
    assert labels == node_labels(plan, "gke") == {"iac.dev/node-pool": "l4", "team": "search"}
    for kind, name in (("Deployment", "m-v1"), ("DaemonSet", "iac-prepull-l4")):
        pod = find(compiled, kind, name)["spec"]["template"]["spec"]
        assert pod["nodeSelector"] == labels
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod[
            "tolerations"
        ]
    assert properties["nodeConfig"]["taints"] == [GPU_TAINT]


def test_other_provisioners_declare_no_cloud_resources(tmp_path: Path) -> None:
    for provisioner in ("karpenter", "existing"):
        compiled = compile_text(
            tmp_path,
            f"""\
            version: 1
            cluster: {{name: c, provisioner: {provisioner}}}
            models:
              m: {{image: x, resources: {{accelerator: L4}}, deployments: {{v1: {{}}}}}}
            auth: {{public: true}}
            """,
        )
        assert compiled.cloud == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            """\
            node_pools: {l4: {accelerator: L4, instance_types: [g2-standard-4, p5.48xlarge]}}
            models:
              m: {image: x, resources: {accelerator: L4}, deployments: {v1: {}}}
            auth: {public: true}
            """,
            "3:52: error: node_pools.l4.instance_types: p5.48xlarge: not a GCP machine type "
            "carrying L4 (known: g2-standard-12, g2-standard-16, g2-standard-24, "
            "g2-standard-32, g2-standard-4, g2-standard-48, g2-standard-8, g2-standard-96); "
            "a GKE node pool needs the machine's GPU count, so add others under "
            "`pricing.instance_types`",
        ),
        (
            """\
            models:
              m:
                image: x
                resources: {accelerator: "L4:8", cpu: "100", memory: 64Gi}
                deployments: {v1: {}}
            auth: {public: true}
            """,
            "6:16: error: models.m.resources: no GCP machine type for node pool 'gpu-l4' fits "
            "a replica of m/v1 (8 × L4, 100 CPU, 64 GiB memory) on one node; the largest is "
            "g2-standard-96 (8 GPUs, 96 vCPUs, 384 GiB, less what GKE reserves). Lower the "
            "replica's resources, or name a larger machine type in `pricing.instance_types`",
        ),
        (
            """\
            node_pools: {v100: {accelerator: V100}}
            models: {}
            auth: {public: true}
            """,
            "3:34: error: node_pools.v100.accelerator: no GCP machine type in the catalog "
            "carries V100; choose another accelerator, or add the machine type under "
            "`pricing.instance_types`",
        ),
    ],
)
def test_pools_no_machine_can_serve_are_errors(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(StackInvalid) as info:
        compile_text(tmp_path, gke(body))
    assert [str(d).split("stack.yaml:", 1)[1] for d in info.value.diagnostics] == [message]


def test_validate_reports_what_render_would(tmp_path: Path) -> None:
    # The machine choice runs in `iac validate` too: a replica no machine type fits is the
    # same located error there as in `iac render`, not a pass followed by a failed render.
    path = tmp_path / "stack.yaml"
    path.write_text(
        gke(
            """\
            node_pools: {l4: {accelerator: L4, instance_types: [g2-standard-4]}}
            models:
              m:
                image: x:1
                resources: {accelerator: L4, cpu: "8", memory: 16Gi}
                deployments: {v1: {}}
            auth: {public: true}
            """
        )
    )
    validate = CliRunner().invoke(cli, ["validate", str(path)])
    render_result = CliRunner().invoke(cli, ["render", str(path)])
    assert (validate.exit_code, render_result.exit_code) == (1, 1)
    error = (
        f"{path}:3:14: error: node_pools.l4: no GCP machine type for node pool 'l4' fits a "
        "replica of m/v1 (1 × L4, 8 CPU, 16 GiB memory) on one node; the largest is "
        "g2-standard-4 (1 GPU, 4 vCPUs, 16 GiB, less what GKE reserves). Lower the replica's "
        "resources, or widen the pool's `instance_types`"
    )
    assert validate.stderr.splitlines() == [error]
    assert error in render_result.stderr.splitlines()
    # A stack that compiles still validates, and other provisioners choose no machine.
    assert CliRunner().invoke(cli, ["validate", str(EXAMPLE)]).exit_code == 0
    path.write_text(path.read_text().replace("provisioner: gke", "provisioner: karpenter"))
    assert CliRunner().invoke(cli, ["validate", str(path)]).exit_code == 0


def test_gke_needs_its_cluster_and_pool_names_gke_accepts(tmp_path: Path) -> None:
    with pytest.raises(StackInvalid) as info:
        compile_text(
            tmp_path,
            """\
            version: 1
            cluster: {name: c, provisioner: gke}
            node_pools: {l4-pool-of-the-search-team-in-production-1: {accelerator: L4}}
            """,
        )
    assert [str(d).split("stack.yaml:", 1)[1] for d in info.value.diagnostics] == [
        "2:33: error: cluster.provisioner: `provisioner: gke` creates node pools in a GKE "
        "cluster: name it with `cluster.gke: {cluster: NAME, location: REGION}` (and "
        "`project:` unless the Google Cloud provider's default project is meant)",
        "3:14: error: node_pools.l4-pool-of-the-search-team-in-production-1: "
        "'l4-pool-of-the-search-team-in-production-1' is not a valid GKE node pool name: use "
        "at most 40 lower-case letters, digits and '-', starting with a letter",
    ]


# --- iac render ---------------------------------------------------------------------------


def test_render_shows_the_pools_where_kubectl_skips_them(tmp_path: Path) -> None:
    stdout = CliRunner().invoke(cli, ["render", str(EXAMPLE)]).stdout
    listing = json.loads(
        CliRunner().invoke(cli, ["render", str(EXAMPLE), "--format", "json"]).stdout
    )
    resources = listing["cloudResources"]
    assert [(r["type"], r["name"]) for r in resources] == [
        (NODE_POOL_TYPE, "gpu-h100"),
        (NODE_POOL_TYPE, "spot-l4"),
    ]
    # YAML: the objects as documents, then the pools commented out (kubectl sees none).
    objects, _, cloud = stdout.partition(CLOUD_HEADER)
    assert list(yaml.safe_load_all(stdout)) == list(yaml.safe_load_all(objects)) == listing["items"]
    assert all(line.startswith("#") for line in cloud.splitlines())
    uncommented = "\n".join(line[2:] for line in cloud.splitlines())
    assert list(yaml.safe_load_all(uncommented)) == resources
    # A folder: the objects, and the pools in cloud/ (which `kubectl apply -f DIR` skips).
    out = tmp_path / "out"
    (out / "cloud").mkdir(parents=True)
    (out / "cloud" / "009-gcp-nodepool-gone.yaml").write_text("stale")  # not iac's: kept
    result = CliRunner().invoke(cli, ["render", str(EXAMPLE), "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    assert result.stderr == (
        f"{len(listing['items'])} objects in {out} and 2 cloud resources in {out / 'cloud'}: "
        f"{len(listing['items']) + 2} written, 0 removed, 0 unchanged\n"
    )
    files = sorted(p.name for p in (out / "cloud").iterdir())
    assert files == [
        "009-gcp-nodepool-gone.yaml",
        "gcp-nodepool-gpu-h100.yaml",
        "gcp-nodepool-spot-l4.yaml",
    ]
    assert [yaml.safe_load((out / "cloud" / f).read_text()) for f in files[1:]] == resources
    # Without pools (another stack into the same folder) iac's files in cloud/ go, and the
    # folder with them once nothing else is in it.
    other = ROOT / "examples" / "01-single-model"
    result = CliRunner().invoke(cli, ["render", str(other), "-o", str(out), "--format", "json"])
    assert result.exit_code == 0, result.stderr
    assert [p.name for p in (out / "cloud").iterdir()] == ["009-gcp-nodepool-gone.yaml"]
    (out / "cloud" / "009-gcp-nodepool-gone.yaml").unlink()
    for stack in (EXAMPLE, other):
        assert CliRunner().invoke(cli, ["render", str(stack), "-o", str(out)]).exit_code == 0
    assert not (out / "cloud").exists()


def test_render_without_cloud_resources_is_unchanged() -> None:
    objects = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "m"}}]
    assert (
        render(objects)
        == render(objects, cloud=())
        == "---\n" + yaml.safe_dump(objects[0], sort_keys=False)
    )
    assert "cloudResources" not in json.loads(render(objects, "json"))


# --- the Pulumi program, under mocks --------------------------------------------------------


def test_the_program_registers_each_pool_as_rendered() -> None:
    listing = json.loads(
        CliRunner().invoke(cli, ["render", str(EXAMPLE), "--format", "json"]).stdout
    )
    run = run_program(EXAMPLE)
    cluster = run.one(CLUSTER_TYPE, "example")
    (provider,) = [r for r in run.registrations if r.type == "pulumi:providers:gcp"]
    assert (provider.name, provider.inputs) == ("example", {"project": "example-project"})
    pools = sorted((r for r in run.registrations if r.type == NODE_POOL_TYPE), key=lambda r: r.name)
    assert [p.name for p in pools] == ["gpu-h100", "spot-l4"]
    for registered, declared in zip(pools, listing["cloudResources"], strict=True):
        assert registered.inputs == declared["properties"]
        assert registered.parent == cluster.urn
        assert registered.provider.startswith(provider.urn + "::")
        assert registered.custom
    assert run.deployed is not None
    assert set(run.deployed.resources) >= {
        f"{NODE_POOL_TYPE}/gpu-h100",
        f"{NODE_POOL_TYPE}/spot-l4",
    }
    # What runs on a pool waits for it (and only for its own pool).
    urns = {p.name: p.urn for p in pools}
    for name, pool_name in (
        ("Deployment/models/llama-3-8b-v1", "gpu-h100"),
        ("Deployment/models/bge-large-v1", "spot-l4"),
        ("DaemonSet/models/iac-prepull-spot-l4", "spot-l4"),
    ):
        kind = name.split("/", 1)[0]
        token = f"kubernetes:apps/v1:{kind}"
        dependencies = run.one(token, name).dependencies
        assert [d for d in dependencies if d in urns.values()] == [urns[pool_name]], name
    service = run.one("kubernetes:core/v1:Service", "Service/models/llama-3-8b-v1")
    assert not set(service.dependencies) & set(urns.values())


def test_a_pool_is_deleted_before_its_replacement_which_has_its_name() -> None:
    """A spot ↔ on-demand change replaces a GKE pool; its replacement has the same `name`,
    which GKE refuses while the old pool exists."""
    # Stand-ins: the options only carry them.
    parent: Any = object()
    provider: Any = object()
    options = program_gke.pool_options(parent, provider)
    assert options.delete_before_replace is True
    assert (options.parent, options.provider) == (parent, provider)


def test_without_pulumi_gcp_the_run_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "pulumi_gcp", None)  # `import pulumi_gcp` fails
    with pytest.raises(IacError, match=r"pip install 'iac\[gke\]'"):
        program_gke.import_gcp()
    with pytest.raises(pulumi.RunError, match=r"pulumi-gcp package, which is not installed"):
        run_program(EXAMPLE)
    # A stack without GKE node pools never needs it.
    run = run_program(ROOT / "examples" / "01-single-model" / "stack.yaml")
    assert not [r for r in run.registrations if r.type.startswith(("gcp:", "pulumi:providers:gcp"))]
