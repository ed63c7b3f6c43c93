"""Benchmark: the Pulumi program under mocks against bare pulumi_kubernetes calls.

Target (issue #5): registering a 1,000-model stack through the program under
`pulumi.runtime.set_mocks` costs at most 1.1x registering the same objects with bare
pulumi_kubernetes constructor calls (no components, no provider, no depends_on, no
timeouts) under the same mocks, measured in the same run.

Each sample runs in a fresh process (Pulumi's runtime state is global), alternating program
and bare samples so that a change in machine load hits both alike:

- program: `iac.program.main()` as `pulumi up` runs it, reading the stack file, checking
  and compiling it, and registering everything, until the last registration is done;
- bare: the same compiled objects (compiled before the clock starts), one constructor call
  each, until the last registration is done.

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


def sample_bare(stack_file: str) -> dict[str, float]:
    pulumi = _mocks()
    import pulumi_kubernetes as k8s

    from iac.compile import compile_stack
    from iac.validate import check_stack

    objects = compile_stack(check_stack(stack_file)).objects
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
    parser.add_argument("--sample", choices=["program", "bare"], help=argparse.SUPPRESS)
    parser.add_argument("--stack", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.sample:
        fn = sample_program if args.sample == "program" else sample_bare
        print(json.dumps(fn(args.stack)))
        return

    from benchmarks.generate import large_stack

    load_before = os.getloadavg()
    programs: list[dict[str, float]] = []
    bares: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        stack_file = str(Path(tmp) / "stack.yaml")
        Path(stack_file).write_text(large_stack(args.models))
        for i in range(args.repeat):
            programs.append(_sample("program", stack_file))
            bares.append(_sample("bare", stack_file))
            print(
                f"run {i + 1}: program {programs[-1]['total']:.1f} s "
                f"(cpu {programs[-1]['cpu']:.1f} s, compile {programs[-1]['compile']:.1f} s), "
                f"bare {bares[-1]['total']:.1f} s (cpu {bares[-1]['cpu']:.1f} s), "
                f"load {os.getloadavg()[0]:.2f}",
                file=sys.stderr,
            )
    load_after = os.getloadavg()

    program = statistics.median(p["total"] for p in programs)
    compile_ = statistics.median(p["compile"] for p in programs)
    registration = statistics.median(p["total"] - p["compile"] for p in programs)
    bare = statistics.median(b["total"] for b in bares)
    program_cpu = statistics.median(p["cpu"] for p in programs)
    bare_cpu = statistics.median(b["cpu"] for b in bares)
    objects = int(bares[0]["objects"])
    ratio = program / bare
    lines = [
        f"Measured by `benchmarks/program_mocks.py --models {args.models} --repeat "
        f"{args.repeat}`: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}; {args.models} models, {objects} objects; each sample "
        "a fresh process, program and bare alternating; median of "
        f"{args.repeat}. Load average (1 min) {load_before[0]:.2f} before, "
        f"{load_after[0]:.2f} after.",
        "",
        "| run | program: wall (CPU) | of which check + compile | bare calls: wall (CPU) |",
        "|---|---|---|---|",
    ]
    for i, (p, b) in enumerate(zip(programs, bares, strict=True), start=1):
        lines.append(
            f"| {i} | {p['total']:.1f} s ({p['cpu']:.1f} s) | {p['compile']:.1f} s "
            f"| {b['total']:.1f} s ({b['cpu']:.1f} s) |"
        )
    lines += [
        f"| **median** | **{program:.1f} s** ({program_cpu:.1f} s) | **{compile_:.1f} s** "
        f"| **{bare:.1f} s** ({bare_cpu:.1f} s) |",
        "",
        f"Program / bare, wall: **{ratio:.3f}** (target ≤ {TARGET}); CPU: "
        f"{program_cpu / bare_cpu:.3f}; registration alone (program minus check + compile) / "
        f"bare, wall: {registration / bare:.3f}.",
    ]
    text = "\n".join(lines) + "\n"
    if args.out:
        Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
