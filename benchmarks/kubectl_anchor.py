"""Issue #24's anchor: the first `iac up` of a large stack against a live API server, side by
side with `kubectl apply --server-side` of the same objects.

    .venv/bin/python benchmarks/kubectl_anchor.py [--models 100,1000] [--shards N]
        [--cases bare,kubectl,iac,sharded] [--timeout 900] [--out FILE]

For each model count, a stack from `benchmarks/generate.py` (`large_stack(models)`: 17
objects a model, 3 Deployments of one H100 each) is rendered once with `iac render` to one
multi-document YAML file, and each case gets a fresh control plane of its own
(tests/live: `start_prepared_cluster`, the binaries of `scripts/install-control-plane`), with
what a platform team creates before an apply: the CRDs, the `keda` namespace and the add-on's
interceptor Service, and the stack's Gateway and Secrets (tests/live/prerequisites.py; the
`models` namespace is made with the Secrets and adopted by iac's Namespace object). None of
this is timed. Cases:

- `bare`: etcd and kube-apiserver only (no controller manager, scheduler, kwok or KEDA), then
  `kubectl apply --server-side --force-conflicts -f objects.yaml`: the API server's and
  etcd's cost of the writes alone, as the issue measured it. `iac up` cannot run on such a
  cluster: Pulumi awaits each Deployment until its pods are ready, which needs the
  controllers and nodes.
- `kubectl`: the cluster the `iac up` cases get (below), then the same `kubectl apply`, and
  after it returns a wait until every Deployment has a replica available (all of them read
  with one `kubectl get` a second) and the DaemonSet's rollout: the time until the objects
  are applied, and until what Pulumi awaits is ready.
- `iac`: the same cluster, the first `iac up` of the stack (`cluster.shards` 1): a project as
  `iac init` writes it, the stack file in `stacks/dev.yaml` and the cluster's kubeconfig in
  `iac:kubeconfig` (as a secret, as tests/e2e/live_project.py sets it), local file backend,
  the project's engine (`scripts/install-pulumi-engine`), kubectl on PATH for the preflight.
  Timed from start to exit: compile, preflight, the engine's update (checkpoints skipped, as
  `iac up` runs it) with Pulumi's awaits.
- `sharded`: the same with `cluster.shards: K` (`--shards`, default a tenth of the models:
  10 at 100, 100 at 1,000).

The engine runs up to 64 resource operations at once in every `iac up` case (`iac up`'s
`PULUMI_PARALLEL`; the CLI's default, 8 here, made a first `iac up` of 100 models 494 s
when each Service was also awaited 10 s: docs/program.md, "a first apply to a live API
server").

`--case-timeout MODELS:CASE=SECONDS` (repeatable) sets one case's timeout at one count,
for a case known to run far longer than the others (`ready`: the wait after `kubectl
apply`). The table in docs/benchmarks.md keeps the rows of model counts this run does not
measure, so that counts can be measured in separate runs.

The cluster for `kubectl`, `iac` and `sharded` runs what Pulumi's awaits need and what the
live e2e tests run (tests/e2e/test_live_pulumi_up.py): etcd, kube-apiserver, the controller
manager, the scheduler and kwok, with kwok GPU nodes of the pods' shape (labels, taint, GPUs:
`tests.live.cluster.pod_node_shape`, as `nodes_for` makes them) so that every pod is
scheduled and made Running and Ready. Unlike `nodes_for` (a node per replica), the nodes
are packed, `PODS_PER_NODE` pods each: 3,000 nodes' heartbeats would load the API server more
than the objects under test. KEDA does not run (its operator would add a writer per
ScaledObject; without it every active Deployment keeps the one replica the API server
defaults, which is what Pulumi awaits on a first apply). The controllers work on the pods
while kubectl and Pulumi write, on the same 2 cores, in every case but `bare`.

Every command runs once under a timeout in its own process group (`benchmarks.pulumi_up.timed`),
killed as a whole when it passes and then reported as stopped, with the Deployments the
cluster holds by then. The load average (1 min) is read before and after each.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.doc import replace_section, section_rows  # noqa: E402
from benchmarks.generate import large_stack  # noqa: E402
from benchmarks.pulumi_up import STACK, Run, engine_bin, engine_env, timed  # noqa: E402
from iac.compile import compile_stack  # noqa: E402
from iac.program.project import default_virtualenv, scaffold  # noqa: E402
from iac.validate import check_stack  # noqa: E402
from tests.live.cluster import LiveCluster, kwok_node, pod_node_shape  # noqa: E402
from tests.live.fixtures import start_prepared_cluster  # noqa: E402
from tests.live.prerequisites import stack_prerequisites  # noqa: E402

NAMESPACE = "models"
PODS_PER_NODE = 100
"""Pods a packed kwok GPU node takes (its GPUs; its CPU, memory and pod count leave room
for the pre-pull DaemonSet's pod and the servers' requests)."""
CASES = ("bare", "kubectl", "iac", "sharded")

FULL = "with controllers"
"""etcd, kube-apiserver, the controller manager, the scheduler and kwok with GPU nodes."""
BARE = "API server only"
"""etcd and kube-apiserver."""


def control_plane_bin() -> Path:
    """The control plane's bin dir (`scripts/install-control-plane`: cached after the first
    build, which takes 10-25 minutes)."""
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "install-control-plane")],
        capture_output=True, text=True, check=True, timeout=3600, cwd=ROOT,
    )  # fmt: skip
    return Path(proc.stdout.strip().splitlines()[-1])


def packed_gpu_nodes(objects: Iterable[Mapping[str, Any]], prefix: str) -> list[dict[str, Any]]:
    """kwok nodes on which every GPU Deployment of `objects` runs all its replicas,
    `PODS_PER_NODE` pods a node, shaped as `nodes_for` shapes one."""
    replicas: Counter[Any] = Counter()
    for obj in objects:
        if obj.get("kind") != "Deployment":
            continue
        shape = pod_node_shape(obj["spec"]["template"]["spec"])
        if shape is not None:
            replicas[shape] += int(obj["spec"].get("replicas", 1))
    nodes: list[dict[str, Any]] = []
    for shape, count in replicas.items():
        for _ in range(math.ceil(count / PODS_PER_NODE)):
            node = kwok_node(f"{prefix}-gpu-{len(nodes)}", shape)
            room = {
                "cpu": str(16 * PODS_PER_NODE),
                "memory": f"{128 * PODS_PER_NODE}Gi",
                "pods": str(PODS_PER_NODE + 10),
                **{resource: str(PODS_PER_NODE * n) for resource, n in shape.gpu_resources},
            }
            node["status"]["capacity"].update(room)
            node["status"]["allocatable"].update(room)
            nodes.append(node)
    return nodes


@contextmanager
def fresh_cluster(
    bin_dir: Path, work: Path, objects: list[dict[str, Any]], controllers: bool
) -> Iterator[LiveCluster]:
    """A prepared cluster of its own (no KEDA) with the stack's Gateway and Secrets and,
    with `controllers`, GPU nodes for its pods, Ready; stopped at the end."""
    cluster = start_prepared_cluster(bin_dir, work, controllers=controllers, keda=False)
    try:
        cluster.apply(stack_prerequisites(objects))
        if controllers:
            cluster.apply(packed_gpu_nodes(objects, "bench"))
            cluster.kubectl("wait", "--for=condition=Ready", "node", "--all", "--timeout=120s")
        yield cluster
    finally:
        cluster.stop()


def available_deployments(cluster: LiveCluster) -> int:
    """Deployments in the stack's namespace with a replica available."""
    proc = cluster.kubectl(
        "get", "deployments", "-n", NAMESPACE, "-o",
        "jsonpath={range .items[*]}{.status.availableReplicas}{' '}{end}",
        check=False, timeout=120,
    )  # fmt: skip
    return sum(1 for n in proc.stdout.split() if int(n) > 0) if proc.returncode == 0 else -1


def wait_available(cluster: LiveCluster, declared: int, timeout: float) -> Run:
    """Until all `declared` Deployments have a replica available, read with one list every
    second or so (`kubectl wait --all` reads them one at a time: at 1,000 models it returned
    5 minutes after the last was available), or `timeout` seconds."""
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    while (available := available_deployments(cluster)) != declared:
        if time.perf_counter() - start > timeout:
            break
        time.sleep(1)
    finished = available == declared
    return Run(
        seconds=time.perf_counter() - start,
        finished=finished,
        returncode=0 if finished else None,
        load_before=load_before,
        load_after=os.getloadavg()[0],
        written=0,
        tail=f"{available} of {declared} Deployments available",
    )


def live_deployments(cluster: LiveCluster) -> int:
    """Deployments in the stack's namespace (a stopped run's progress)."""
    proc = cluster.kubectl(
        "get", "deployments", "-n", NAMESPACE, "-o", "name", check=False, timeout=120
    )
    return len(proc.stdout.split()) if proc.returncode == 0 else -1


def iac_project(
    work: Path, name: str, stack_text: str, cluster: LiveCluster, env: dict[str, str]
) -> Path:
    """A project as `iac init` writes it, its stack file replaced by `stack_text`, its
    Pulumi stack applying to `cluster`."""
    project = work / name
    scaffold(project, name, default_virtualenv())
    (project / "stacks" / f"{STACK}.yaml").write_text(stack_text)
    pulumi = str(Path(env["PATH"].split(os.pathsep)[0]) / "pulumi")
    for args in (
        ["stack", "init", STACK],
        ["config", "set", "--secret", "iac:kubeconfig", str(cluster.kubeconfig)],
    ):
        subprocess.run(
            [pulumi, *args, "--non-interactive"], cwd=project, env=env,
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
    return project


@dataclass
class Row:
    models: int
    objects: int
    cluster: str
    command: str
    run: Run
    deployments: tuple[int, int]
    """(in the cluster when it ended, declared)."""
    counted: str = "in the cluster"
    """What `deployments` counts."""
    anchor: float | None = None
    """The `kubectl apply` time on the same kind of cluster, for the ratio."""
    anchor_ready: float | None = None
    """The same plus the wait for readiness."""

    @property
    def ok(self) -> bool:
        return self.run.finished and self.run.returncode == 0

    def time(self) -> str:
        run = self.run
        live, declared = self.deployments
        if self.ok:
            missing = "" if live == declared else f" ({live} of {declared} Deployments!)"
            return f"**{run.seconds:.1f} s**{missing}"
        if not run.finished:
            return (
                f"stopped after {run.seconds:.0f} s (timeout), {live} of {declared} "
                f"Deployments {self.counted}"
            )
        return f"failed after {run.seconds:.1f} s (exit {run.returncode})"

    def ratio(self) -> str:
        if not self.ok or self.anchor is None:
            return "-"
        text = f"{self.run.seconds / self.anchor:.1f}x"
        if self.anchor_ready is not None:
            text += f" ({self.run.seconds / self.anchor_ready:.1f}x)"
        return text

    def line(self) -> str:
        load = f"{self.run.load_before:.1f} → {self.run.load_after:.1f}"
        return (
            f"| {self.models} ({self.objects}) | {self.cluster} | {self.command} | {self.time()} "
            f"| {self.ratio()} | {load} |"
        )


def combine(first: Run, second: Run) -> Run:
    """Two commands run one after the other, as one."""
    return Run(
        seconds=first.seconds + second.seconds,
        finished=first.finished and second.finished,
        returncode=second.returncode if first.returncode == 0 else first.returncode,
        load_before=first.load_before,
        load_after=second.load_after,
        written=0,
        tail=second.tail if first.returncode == 0 else first.tail,
    )


def succeeded(run: Run | None) -> float | None:
    return run.seconds if run is not None and run.finished and run.returncode == 0 else None


@dataclass
class Bench:
    """What every case needs: the binaries, the work folder, the engine's environment."""

    plane: Path
    engine: Path
    work: Path
    env: dict[str, str]
    rows: list[Row]
    failures: list[str]

    def record(self, row: Row) -> None:
        self.rows.append(row)
        print(row.line(), flush=True)
        if row.run.finished and row.run.returncode != 0:
            # A case stopped at its timeout is a result (its row says how far it got), as in
            # benchmarks/pulumi_up.py; a command that failed is not.
            self.failures.append(f"{row.models} models, {row.command}:\n{row.run.tail}")

    def kubectl(self, cluster: LiveCluster, *args: str) -> list[str]:
        return [str(self.plane / "kubectl"), "--kubeconfig", str(cluster.kubeconfig), *args]


@dataclass
class Size:
    """One model count: its stack, compiled and rendered once."""

    models: int
    objects: list[dict[str, Any]]
    rendered: Path
    timeout: float
    waits: float
    """The timeout of the wait for readiness after `kubectl apply`."""

    @property
    def declared(self) -> int:
        return sum(1 for o in self.objects if o["kind"] == "Deployment")

    def row(self, cluster: LiveCluster | None, what: str, command: str, run: Run) -> Row:
        live = live_deployments(cluster) if cluster is not None else -1
        return Row(self.models, len(self.objects), what, command, run, (live, self.declared))


def prepare(bench: Bench, models: int, timeout: float, waits: float) -> Size:
    source = bench.work / f"stack-{models}.yaml"
    source.write_text(large_stack(models))
    objects = compile_stack(check_stack(str(source))).objects
    rendered = bench.work / f"objects-{models}.yaml"
    with rendered.open("wb") as out:
        subprocess.run(
            [sys.executable, "-m", "iac", "render", str(source), "--format", "yaml"],
            stdout=out, check=True, timeout=600, env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
    return Size(models, objects, rendered, timeout, waits)


def kubectl_apply(bench: Bench, size: Size, cluster: LiveCluster, name: str) -> Run:
    command = bench.kubectl(
        cluster, "apply", "--server-side", "--force-conflicts", "-f", str(size.rendered)
    )
    return timed(command, bench.work, bench.env, size.timeout, bench.work / f"{name}.log")


def bare_case(bench: Bench, size: Size) -> None:
    name = f"bare-{size.models}"
    with fresh_cluster(bench.plane, bench.work / name, size.objects, False) as cluster:
        run = kubectl_apply(bench, size, cluster, name)
        bench.record(size.row(cluster, BARE, "`kubectl apply --server-side`", run))


def kubectl_case(bench: Bench, size: Size) -> tuple[float | None, float | None]:
    """`kubectl apply`, then the wait for readiness; their times (None: not finished)."""
    name = f"kubectl-{size.models}"
    with fresh_cluster(bench.plane, bench.work / name, size.objects, True) as cluster:
        run = kubectl_apply(bench, size, cluster, name)
        bench.record(size.row(cluster, FULL, "`kubectl apply --server-side`", run))
        if succeeded(run) is None:
            return None, None
        wait = size.waits
        limit = f"--timeout={wait + 60:.0f}s"  # past ours: a stop is a timeout, not a failure
        where = ("-n", NAMESPACE)
        waited = wait_available(cluster, size.declared, wait)
        ready = combine(run, waited)
        if succeeded(waited) is not None:
            rolled = timed(
                bench.kubectl(cluster, *where, "rollout", "status", "daemonset", limit),
                bench.work, bench.env, wait, bench.work / f"{name}-ds.log",
            )  # fmt: skip
            ready = combine(ready, rolled)
        row = size.row(cluster, FULL, READY, ready)
        row.deployments = (available_deployments(cluster), size.declared)
        row.counted = "available"
        bench.record(row)
        return succeeded(run), succeeded(ready)


def up_case(
    bench: Bench,
    size: Size,
    name: str,
    shards: int,
    command: list[str],
    env: dict[str, str],
    timeout: float,
) -> Row:
    """`command` run in a new project applying the stack (`shards` Pulumi stacks) to a
    fresh cluster."""
    with fresh_cluster(bench.plane, bench.work / name, size.objects, True) as cluster:
        project = iac_project(
            bench.work, name, large_stack(size.models, shards=shards), cluster, bench.env
        )
        run = timed(command, project, env, timeout, bench.work / f"{name}.log")
        row = size.row(cluster, FULL, "", run)
    shutil.rmtree(project, ignore_errors=True)
    return row


SECTION = "kubectl-anchor"


def row_models(line: str) -> int:
    return int(line[2:].split(" ", 1)[0])


READY = (
    "the same, then until every Deployment has a replica available (one list a second) and "
    "the DaemonSet rolled out (`kubectl rollout status`)"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", default="100,1000", help="model counts, comma-separated")
    parser.add_argument(
        "--shards",
        type=int,
        default=None,
        help="cluster.shards of the `sharded` case (default: a tenth of the models, at least 2)",
    )
    parser.add_argument(
        "--cases", default=",".join(CASES), help=f"which to run, of {', '.join(CASES)}"
    )
    parser.add_argument(
        "--timeout",
        default="900",
        help="seconds per command: one value, or one per model count (comma-separated)",
    )
    parser.add_argument(
        "--case-timeout",
        action="append",
        default=[],
        metavar="MODELS:CASE=SECONDS",
        help="one case's timeout at one model count (repeatable)",
    )
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()
    counts = [int(n) for n in args.models.split(",")]
    limits = [float(t) for t in args.timeout.split(",")]
    if len(limits) not in (1, len(counts)):
        parser.error("--timeout: one value, or one per model count")
    timeouts = dict(zip(counts, limits * len(counts) if len(limits) == 1 else limits, strict=True))
    overrides: dict[tuple[int, str], float] = {}
    for spec in args.case_timeout:
        where, _, seconds = spec.partition("=")
        count, _, case = where.partition(":")
        overrides[int(count), case] = float(seconds)
    cases = [c for c in args.cases.split(",") if c]
    unknown = set(cases) - set(CASES)
    if unknown:
        parser.error(f"unknown cases: {', '.join(sorted(unknown))}")

    plane = control_plane_bin()
    engine = engine_bin()
    work = Path(tempfile.mkdtemp(prefix="iac-bench-anchor-"))
    env = engine_env(engine, work)
    env["PATH"] = os.pathsep.join([str(engine), str(plane), env["PATH"]])  # kubectl: preflight
    bench = Bench(plane, engine, work, env, [], [])
    iac_up = [sys.executable, "-m", "iac", "up", f"stacks/{STACK}.yaml", "--stack", STACK,
              "--project-dir", ".", "--yes"]  # fmt: skip
    try:
        for models in counts:
            limit = timeouts[models]
            size = prepare(bench, models, limit, overrides.get((models, "ready"), limit))
            if "bare" in cases:
                bare_case(bench, size)
            anchor, ready = kubectl_case(bench, size) if "kubectl" in cases else (None, None)
            shards = args.shards or max(2, models // 10)
            runs: list[tuple[str, int, str, list[str], dict[str, str]]] = []
            if "iac" in cases:
                runs.append(("iac", 1, "first `iac up`", iac_up, env))
            if "sharded" in cases:
                runs.append(("sharded", shards, f"first `iac up`, `cluster.shards: {shards}`",
                             iac_up, env))  # fmt: skip
            for case, count, what, command, case_env in runs:
                limit = overrides.get((models, case), size.timeout)
                row = up_case(bench, size, f"{case}-{models}", count, command, case_env, limit)
                row.command, row.anchor, row.anchor_ready = what, anchor, ready
                bench.record(row)
    finally:
        if args.keep:
            print(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    shown = ", ".join(f"{t:.0f} s at {m} models" for m, t in timeouts.items())
    shown += "".join(f", {t:.0f} s for `{c}` at {m}" for (m, c), t in overrides.items())
    lines = [
        f"Measured by `benchmarks/kubectl_anchor.py` on {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}: stacks from "
        "`benchmarks/generate.py`, rendered once by `iac render` into one file for kubectl; "
        "each case on a fresh local control plane of its own (Kubernetes v1.34.4 built by "
        "`scripts/install-control-plane`, on loopback, sharing the 2 cores with everything "
        "else), with the CRDs, the Gateway and the Secrets created first (not timed); each "
        f"command run once, timeout {shown} (rows of other counts: from an earlier run, "
        f"each stopped run says when it stopped). Cluster: *{BARE}* is etcd and kube-apiserver "
        f"alone; *{FULL}* adds the controller manager, the scheduler (both with a client "
        "limit of 200 requests a second, tests/live/cluster.py) and kwok, as the live "
        "e2e tests run them: the controllers make a ReplicaSet and a pod for each of the 3 "
        f"Deployments a model has, the scheduler binds them to kwok GPU nodes ({PODS_PER_NODE} "
        "pods a node) and kwok makes them Running and Ready, so that Pulumi's awaits (every "
        "Deployment available) end as on a real cluster; KEDA "
        "does not run (no operator: each Deployment keeps the one replica the API server "
        "defaults). `iac up` is timed from start to exit (compile, preflight, the "
        "update with checkpoints skipped, the awaits). Ratio: the time over `kubectl "
        "apply`'s on the same kind of cluster (in brackets: over kubectl's apply and wait "
        "for readiness). Issue #24's goal: `iac up` in at most 2x.",
        "",
        "| models (objects) | cluster | command | time | ratio to kubectl | load average "
        "(1 min) before → after |",
        "|---|---|---|---|---|---|",
    ]
    measured = {row.models for row in bench.rows}
    earlier = section_rows(Path(args.out), SECTION)
    kept = [line for line in earlier if row_models(line) not in measured]
    lines += sorted(kept + [row.line() for row in bench.rows], key=row_models)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        replace_section(Path(args.out), SECTION, text)
    if bench.failures:
        sys.exit("failed:\n" + "\n\n".join(bench.failures))


if __name__ == "__main__":
    main()
