"""Benchmark of the real Pulumi engine on large stacks (issue #24): the first `pulumi up`,
with and without per-step checkpoints, and the preview of a one-model promotion.

    .venv/bin/python benchmarks/pulumi_up.py [--models 30,100,1000] [--timeout 600] [--out FILE]

Each case runs the project's own engine (`scripts/install-pulumi-engine`: the pinned Pulumi
CLI, Python language host and Kubernetes provider) on a project as `iac init` writes it
(`Pulumi.yaml`, `__main__.py` calling `iac.program.main()`), with a stack file from
`benchmarks/generate.py` (3 deployments and 2 environments a model) and `iac:renderDir` set:
the provider writes the manifests to a folder, no API server is involved. The state is a
local file backend, as `pulumi login --local` sets it up; the environment is hermetic (no
update check, no plugin download, a private PULUMI_HOME), as in tests/e2e.

Cases, per model count:
- first `pulumi up --yes --skip-preview` as `iac init` sets it up (a state checkpoint after
  every step). At 100 models this is known to take far longer (issue #24), so it is bounded
  (`--checkpointed-timeout`, 300 s) and, when stopped, reported as the share of objects
  written by then;
  it is not run at 1,000 models (`--checkpointed-max` sets up to which count it runs);
- the same with `PULUMI_SKIP_CHECKPOINTS=true` (the state written once, at the end);
- `pulumi preview` after promoting one model (a new image for its v2 and production moved to
  v2: 13 objects change), on the stack the previous case left;
- `iac up` of the same one-model promotion, from start to done (the generated stack's
  promotions are `immediate`: three stages, the candidate up, the traffic moved, the old
  deployment scaled to zero, with no stabilization wait): the Automation API path, with the
  checkpoint setting `iac up` chooses (`--iac-up-max` sets up to which count it runs).

The first `iac up` on one Pulumi stack (`cluster.shards` 1, the default), per model count: the
Automation API path with the settings `iac up` chooses (checkpoints skipped, 64 operations at
once, the Python SDK's costs of `iac/program/sdk_costs.py` avoided).

Sharded (`cluster.shards` = models / `--models-per-shard`, 10 by default: 100 shards at
1,000 models), per model count:
- the first `iac up` (every Pulumi stack created and applied, the model shards
  `SHARDS_AT_ONCE` at a time);
- `pulumi preview --stack dev.sNN` of the one-model promotion: the shard holding model 0,
  through the program `iac init` writes (it compiles the whole stack, registers its part);
- `iac up` of that promotion, start to done (of each stage, model 0's shard and the
  cluster's stack).

Every command runs once (each takes minutes on 2 shared cores) under a timeout, in its own
process group, killed as a whole when the timeout passes: the benchmark cannot hang. The load
average is taken before and after each run.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.doc import replace_section, section_rows  # noqa: E402
from benchmarks.generate import changed_stack, large_stack  # noqa: E402
from iac.compile import compile_stack  # noqa: E402
from iac.program.project import default_virtualenv, scaffold  # noqa: E402
from iac.program.sharded import SHARDS_AT_ONCE  # noqa: E402
from iac.program.shards import Part, shard_of  # noqa: E402
from iac.validate import check_stack  # noqa: E402

STACK = "dev"
PASSPHRASE = "iac-bench-not-a-secret"


@dataclass(frozen=True)
class Run:
    """One timed command."""

    seconds: float
    finished: bool
    """False when the timeout stopped it."""
    returncode: int | None
    load_before: float
    load_after: float
    written: int
    """Manifests in the render folder when it ended."""
    tail: str
    """The end of its output (for a failure)."""


def engine_bin() -> Path:
    """The project's engine: `scripts/install-pulumi-engine` prints its bin dir (a cache hit
    takes a second; a cold build, minutes)."""
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "install-pulumi-engine")],
        capture_output=True, text=True, check=True, timeout=3600, cwd=ROOT,
    )  # fmt: skip
    return Path(proc.stdout.strip().splitlines()[-1])


def engine_env(bin_dir: Path, work: Path) -> dict[str, str]:
    """A hermetic environment, as tests/e2e/conftest.py builds it: no variable of the
    caller's that could point Pulumi at another backend, account or cluster."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PULUMI_") and k not in ("KUBECONFIG", "KUBE_CONTEXT")
    }
    (work / "home").mkdir(exist_ok=True)
    (work / "state").mkdir(exist_ok=True)
    env.update(
        {
            "PATH": os.pathsep.join([str(bin_dir), str(Path(sys.executable).parent), env["PATH"]]),
            "PYTHONPATH": str(ROOT),  # the program imports this tree's iac
            "PULUMI_PYTHON_CMD": sys.executable,
            "PULUMI_HOME": str(work / "home"),
            "PULUMI_BACKEND_URL": (work / "state").as_uri(),
            "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "PULUMI_SKIP_CONFIRMATIONS": "true",
        }
    )
    return env


def _load() -> float:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def manifests(project: Path) -> int:
    folder = project / "rendered"
    return sum(1 for _ in folder.rglob("*.yaml")) if folder.is_dir() else 0


def timed(command: list[str], project: Path, env: dict[str, str], timeout: float, log: Path) -> Run:
    """Run `command` in `project`, in its own process group, killed with its children
    (the language host, the provider) when `timeout` seconds pass."""
    load_before = _load()
    start = time.perf_counter()
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=project, env=env, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        try:
            returncode: int | None = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            returncode = None
    seconds = time.perf_counter() - start
    tail = "\n".join(log.read_text(errors="replace").strip().splitlines()[-12:])
    return Run(
        seconds=seconds,
        finished=returncode is not None,
        returncode=returncode,
        load_before=load_before,
        load_after=_load(),
        written=manifests(project),
        tail=tail,
    )


def new_project(work: Path, name: str, models: int, env: dict[str, str], pulumi: Path) -> Path:
    """A project as `iac init` writes it, its starter stack replaced by a generated one,
    rendering to `rendered/`."""
    project = work / name
    scaffold(project, name, default_virtualenv())
    (project / "stacks" / f"{STACK}.yaml").write_text(large_stack(models))
    for args in (["stack", "init", STACK], ["config", "set", "iac:renderDir", "rendered"]):
        subprocess.run(
            [str(pulumi), *args, "--non-interactive"], cwd=project, env=env,
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
    return project


def new_sharded_project(
    work: Path, name: str, models: int, shards: int, env: dict[str, str], pulumi: Path
) -> Path:
    """`new_project`, its stack applied as `shards` Pulumi stacks of models."""
    project = new_project(work, name, models, env, pulumi)
    (project / "stacks" / f"{STACK}.yaml").write_text(large_stack(models, shards=shards))
    return project


def promote_one_model(project: Path) -> None:
    """Model 0's v2 gets a new image and its production moves to v2 (what
    `changed_stack` does to one model in ten, here to model 0 alone)."""
    stack = project / "stacks" / f"{STACK}.yaml"
    stack.write_text(changed_stack(stack.read_text(), every=100_000))


def count_objects(models: int, work: Path) -> int:
    path = work / f"count-{models}.yaml"
    path.write_text(large_stack(models))
    return len(compile_stack(check_stack(str(path))).objects)


def describe(run: Run, objects: int) -> str:
    if run.finished and run.returncode == 0:
        return f"**{run.seconds:.1f} s**"
    if not run.finished:
        share = 100 * run.written / objects
        return (
            f"stopped after {run.seconds:.0f} s (timeout), {run.written} of {objects} "
            f"objects written ({share:.0f} %)"
        )
    return f"failed after {run.seconds:.1f} s (exit {run.returncode})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", default="30,100,1000", help="model counts, comma-separated")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per command")
    parser.add_argument(
        "--checkpointed-timeout",
        type=float,
        default=300,
        help="seconds for the checkpointed first up (stopped and reported as a share done)",
    )
    parser.add_argument(
        "--checkpointed-max",
        type=int,
        default=100,
        help="run the checkpointed first up only up to this many models",
    )
    parser.add_argument(
        "--iac-up-max",
        type=int,
        default=100,
        help="run `iac up` of the promotion only up to this many models (it runs the program "
        "once per stage: three times the preview's time)",
    )
    parser.add_argument(
        "--models-per-shard",
        type=int,
        default=10,
        help="the sharded cases at each model count use cluster.shards = models / this "
        "(0: no sharded cases): first `iac up`, its shard's preview of the promotion, and the "
        "promotion's `iac up`",
    )
    parser.add_argument(
        "--iac-up-only",
        action="store_true",
        help="run the `iac up` cases only (the first `iac up` on one Pulumi stack, the "
        "sharded cases); the table keeps the other rows it has",
    )
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()
    counts = [int(n) for n in args.models.split(",")]

    bin_dir = engine_bin()
    work = Path(tempfile.mkdtemp(prefix="iac-bench-pulumi-"))
    env = engine_env(bin_dir, work)
    skip = {**env, "PULUMI_SKIP_CHECKPOINTS": "true"}
    pulumi = bin_dir / "pulumi"
    up = [str(pulumi), "up", "--yes", "--skip-preview", "--non-interactive", "--color", "never"]
    preview = [str(pulumi), "preview", "--non-interactive", "--color", "never"]
    iac = [
        sys.executable, "-m", "iac", "up", f"stacks/{STACK}.yaml", "--stack", STACK,
        "--project-dir", ".", "--yes",
    ]  # fmt: skip
    rows: list[tuple[str, str, str]] = []
    failures: list[str] = []

    def record(case: str, models: int, objects: int, run: Run) -> None:
        load = f"{run.load_before:.1f} → {run.load_after:.1f}"
        rows.append((f"{models} ({objects} objects)", case, f"{describe(run, objects)} | {load}"))
        print(f"{models} models, {case}: {describe(run, objects)}; load {load}", flush=True)
        if run.finished and run.returncode != 0:
            failures.append(f"{models} models, {case}:\n{run.tail}")

    try:
        for models in [] if args.iac_up_only else counts:
            objects = count_objects(models, work)
            if models <= args.checkpointed_max:
                project = new_project(work, f"ckpt-{models}", models, env, pulumi)
                limit = min(args.timeout, args.checkpointed_timeout)
                run = timed(up, project, env, limit, work / f"ckpt-{models}.log")
                record("first `pulumi up`, a checkpoint per step (as `iac init` sets it up)",
                       models, objects, run)  # fmt: skip
                shutil.rmtree(project, ignore_errors=True)
            project = new_project(work, f"skip-{models}", models, env, pulumi)
            run = timed(up, project, skip, args.timeout, work / f"skip-{models}.log")
            record("first `pulumi up`, `PULUMI_SKIP_CHECKPOINTS=true`", models, objects, run)
            if not (run.finished and run.returncode == 0):
                continue
            promote_one_model(project)
            run = timed(preview, project, skip, args.timeout, work / f"preview-{models}.log")
            record("`pulumi preview` of a one-model promotion", models, objects, run)
            if models <= args.iac_up_max:
                run = timed(iac, project, env, args.timeout, work / f"iac-up-{models}.log")
                record("`iac up` of that promotion, start to done (3 stages, no waits)",
                       models, objects, run)  # fmt: skip
            shutil.rmtree(project, ignore_errors=True)
        for models in counts:
            objects = count_objects(models, work)
            project = new_project(work, f"iac-{models}", models, env, pulumi)
            run = timed(iac, project, env, args.timeout, work / f"iac-{models}-first.log")
            record("first `iac up`, one Pulumi stack", models, objects, run)
            shutil.rmtree(project, ignore_errors=True)
            if not args.models_per_shard:
                continue
            shards = max(2, models // args.models_per_shard)
            name = f"sharded-{models}-{shards}"
            project = new_sharded_project(work, name, models, shards, env, pulumi)
            run = timed(iac, project, env, args.timeout, work / f"{name}-first.log")
            record(f"first `iac up`, {shards} shards", models, objects, run)
            if not (run.finished and run.returncode == 0):
                continue
            promote_one_model(project)
            shard = Part(shard_of("model-0000", shards), shards).stack_name(STACK)
            run = timed([*preview, "--stack", shard], project, skip, args.timeout,
                        work / f"{name}-preview.log")  # fmt: skip
            record(f"`pulumi preview --stack {shard}` of the promotion (its shard, of "
                   f"{shards})", models, objects, run)  # fmt: skip
            run = timed(iac, project, env, args.timeout, work / f"{name}-promote.log")
            record(f"`iac up` of the promotion, start to done, {shards} shards",
                   models, objects, run)  # fmt: skip
            shutil.rmtree(project, ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    version = subprocess.run(
        [str(pulumi), "version"], capture_output=True, text=True, check=False, env=env
    ).stdout.strip()
    lines = [
        f"Measured by `benchmarks/pulumi_up.py` on {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, Pulumi CLI {version} "
        f"and the Kubernetes provider from `scripts/install-pulumi-engine`, rendering to a "
        f"folder (`iac:renderDir`, no API server), local file backend; each command run once, "
        f"timeout {args.timeout:.0f} s ({args.checkpointed_timeout:.0f} s for the checkpointed "
        f"first up); stacks from `benchmarks/generate.py`.",
        "",
        "| models | command | time | load average (1 min) before → after |",
        "|---|---|---|---|",
    ]
    measured = [f"| {models} | {case} | {result} |" for models, case, result in rows]
    if args.iac_up_only:  # an earlier run's rows but the `iac up` ones of these counts
        kept = section_rows(Path(args.out), "pulumi-up")

        def replaced(line: str) -> bool:
            models, case = line[2:].split(" | ")[:2]
            ours = case.startswith("first `iac up`") or "shard" in case
            return ours and int(models.split(" ")[0]) in counts

        measured = [line for line in kept if not replaced(line)] + measured
    lines += measured
    skipped = [f"the checkpointed first up above {args.checkpointed_max} models"]
    skipped += [f"`iac up` of the promotion on one Pulumi stack above {args.iac_up_max} models"]
    lines += [
        "",
        f"Not run: {' and '.join(skipped)} (each about three times the largest that ran, "
        "beyond the timeout). Sharded cases: `cluster.shards` = models / "
        f"{args.models_per_shard}, the model shards applied {SHARDS_AT_ONCE} at a time."
        + (
            f" Rows other than the `iac up` ones of {args.models} models: from an earlier run."
            if args.iac_up_only
            else ""
        ),
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        replace_section(Path(args.out), "pulumi-up", text)
    if failures:
        sys.exit("failed:\n" + "\n\n".join(failures))


if __name__ == "__main__":
    main()
