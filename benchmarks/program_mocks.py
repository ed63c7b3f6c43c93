"""Benchmark: the Pulumi program under mocks against bare pulumi_kubernetes calls.

Target (issue #5): registering a 1,000-model stack through the program under
`pulumi.runtime.set_mocks` costs at most 1.1x registering the same objects with bare
pulumi_kubernetes constructor calls (no components, no provider, no depends_on, no
timeouts) under the same mocks, measured in the same run.

Each sample runs in a fresh process (Pulumi's runtime state is global), the kinds taking
turns so that a change in machine load hits all alike:

- program: `iac.program.main()` as `pulumi up` runs it, reading the stack file, checking
  and compiling it, and registering everything, until the last registration is done;
- bare: the same compiled objects (compiled before the clock starts), one constructor call
  each (the resources are not kept), until the last registration is done;
- bare-same-gc: bare, with the garbage-collector settings the program applies after
  compiling (`settle_garbage_collector`), to show the layer's own cost.

    .venv/bin/python benchmarks/program_mocks.py [--models 1000] [--repeat 3]

Prints a Markdown table (medians) and, with --out FILE, writes it there.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET = 1.1


def _mocks() -> Any:
    import pulumi

    class EchoMocks(pulumi.runtime.Mocks):
        """Like pulumi.md §8: every resource's state is its inputs."""

        def new_resource(self, args: Any) -> tuple[str, dict[str, Any]]:
            return args.name + "_id", args.inputs

        def call(self, args: Any) -> dict[str, Any]:
            return {}

    pulumi.runtime.set_mocks(EchoMocks(), project="bench", stack="bench", preview=False)
    return pulumi


def sample_program(stack_file: str) -> dict[str, float]:
    pulumi = _mocks()
    pulumi.runtime.set_all_config({"iac:stack": stack_file}, [])
    import iac.program.deploy as deploy

    marks: dict[str, float] = {}
    compile_file = deploy.compile_file

    def timed_compile(path: Path) -> Any:
        started = time.perf_counter()
        compiled = compile_file(path)
        marks["compile"] = time.perf_counter() - started
        return compiled

    deploy.compile_file = timed_compile  # type: ignore[assignment]

    @pulumi.runtime.test
    def run() -> Any:
        deployed = deploy.main()
        marks["objects"] = len(deployed.resources)
        return None

    started, cpu = time.perf_counter(), time.process_time()
    run()
    total = time.perf_counter() - started
    return {
        "total": total,
        "cpu": time.process_time() - cpu,
        "compile": marks["compile"],
        "objects": marks["objects"],
    }


def sample_bare(stack_file: str, same_gc: bool = False) -> dict[str, float]:
    pulumi = _mocks()
    import pulumi_kubernetes as k8s

    from iac.compile import compile_stack
    from iac.validate import check_stack

    objects = compile_stack(check_stack(stack_file)).objects
    if same_gc:
        from iac.program.deploy import settle_garbage_collector

        settle_garbage_collector()
    typed = {
        ("v1", "Namespace"): k8s.core.v1.Namespace,
        ("v1", "Service"): k8s.core.v1.Service,
        ("apps/v1", "Deployment"): k8s.apps.v1.Deployment,
        ("policy/v1", "PodDisruptionBudget"): k8s.policy.v1.PodDisruptionBudget,
    }

    @pulumi.runtime.test
    def run() -> Any:
        for obj in objects:
            metadata = obj["metadata"]
            parts = (obj["kind"], metadata.get("namespace"), metadata["name"])
            name = "/".join(p for p in parts if p)
            cls = typed.get((obj["apiVersion"], obj["kind"]))
            if cls is not None:
                # Our kinds' top-level fields are metadata and spec (no camelCase to convert).
                cls(name, **{k: v for k, v in obj.items() if k not in ("apiVersion", "kind")})
            else:
                k8s.apiextensions.CustomResource(
                    name,
                    api_version=obj["apiVersion"],
                    kind=obj["kind"],
                    metadata=metadata,
                    spec=obj.get("spec"),
                )
        return None

    started, cpu = time.perf_counter(), time.process_time()
    run()
    return {
        "total": time.perf_counter() - started,
        "cpu": time.process_time() - cpu,
        "objects": len(objects),
    }


SAMPLES = {
    "program": sample_program,
    "bare": sample_bare,
    "bare-same-gc": lambda stack_file: sample_bare(stack_file, same_gc=True),
}


def _sample(kind: str, stack_file: str) -> dict[str, float]:
    """One sample in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, __file__, "--sample", kind, "--stack", stack_file],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", help="also write the table to this file")
    parser.add_argument("--sample", choices=sorted(SAMPLES), help=argparse.SUPPRESS)
    parser.add_argument("--stack", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.sample:
        print(json.dumps(SAMPLES[args.sample](args.stack)))
        return

    from benchmarks.generate import large_stack

    load_before = os.getloadavg()
    samples: dict[str, list[dict[str, float]]] = {kind: [] for kind in SAMPLES}
    loads: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        stack_file = str(Path(tmp) / "stack.yaml")
        Path(stack_file).write_text(large_stack(args.models))
        for i in range(args.repeat):
            for kind in SAMPLES:
                samples[kind].append(_sample(kind, stack_file))
            loads.append(os.getloadavg()[0])
            print(
                f"run {i + 1}: "
                + ", ".join(
                    f"{kind} {runs[-1]['total']:.1f} s (cpu {runs[-1]['cpu']:.1f} s)"
                    for kind, runs in samples.items()
                )
                + f", load {loads[-1]:.2f}",
                file=sys.stderr,
            )

    def median(kind: str, field: str) -> float:
        return statistics.median(r[field] for r in samples[kind])

    objects = int(samples["bare"][0]["objects"])
    program, bare, same = (median(k, "total") for k in ("program", "bare", "bare-same-gc"))
    program_cpu, bare_cpu, same_cpu = (median(k, "cpu") for k in SAMPLES)
    compile_ = median("program", "compile")
    lines = [
        f"`benchmarks/program_mocks.py --models {args.models} --repeat {args.repeat}` on "
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}: "
        f"{args.models} models, {objects} objects; each sample a fresh process, the three "
        f"kinds in turn; load average (1 min) {load_before[0]:.2f} before, "
        + ", ".join(f"{load:.2f}" for load in loads)
        + " after each round.",
        "",
        "| run | program (check + compile) | bare calls | bare calls, program's GC settings |",
        "|---|---|---|---|",
    ]
    for i in range(args.repeat):
        p, b, g = (samples[k][i] for k in ("program", "bare", "bare-same-gc"))
        lines.append(
            f"| {i + 1} | {p['total']:.1f} s, CPU {p['cpu']:.1f} s ({p['compile']:.1f} s) "
            f"| {b['total']:.1f} s, CPU {b['cpu']:.1f} s "
            f"| {g['total']:.1f} s, CPU {g['cpu']:.1f} s |"
        )
    lines += [
        f"| **median** | **{program:.1f} s**, CPU {program_cpu:.1f} s ({compile_:.1f} s) "
        f"| **{bare:.1f} s**, CPU {bare_cpu:.1f} s | **{same:.1f} s**, CPU {same_cpu:.1f} s |",
        "",
        f"- program / bare: **{program / bare:.2f}** wall, {program_cpu / bare_cpu:.2f} CPU "
        f"(target ≤ {TARGET});",
        f"- program / bare with the same GC settings: **{program / same:.2f}** wall, "
        f"{program_cpu / same_cpu:.2f} CPU (the layer's own cost, check + compile included).",
    ]
    text = "\n".join(lines) + "\n"
    if args.out:
        Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
